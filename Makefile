PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CHRONICON_CACHE ?= $(CURDIR)/.cache
CONSTRAINTS := $(shell [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1 && echo "-c constraints/linux-cpu.txt")
MODEL ?=

RUNS ?= 5
BENCH_MODEL ?= 256m

.PHONY: install demo test lint format clean bench bench-frames bench-highlights

install: $(STAMP)

$(STAMP): pyproject.toml constraints/linux-cpu.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(CONSTRAINTS) -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/python scripts/make_sample_video.py demo/sample.mp4
	@model="$(MODEL)"; [ -n "$$model" ] || model="$$($(BIN)/python scripts/demo_model.py)" || exit 1; \
	$(BIN)/chronicon-mlx analyze demo/sample.mp4 --model "$$model" --frames 8 --max-tokens 64 \
		--system "You are a precise video analyst." \
		--prompt "What moves in this clip, and in which direction?" \
		--output demo/sample_analysis.json --verbose && \
	echo "JSON record: demo/sample_analysis.json"

test: install
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/chronicon-mlx bench --model $(BENCH_MODEL) --random-weights --frames 8 --tokens 64 \
		--runs $(RUNS) --reference-blas --output results/bench.json

bench-frames: install
	$(BIN)/python scripts/bench_frames.py

bench-highlights: install
	$(BIN)/python scripts/bench_highlights.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .cache demo results build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
