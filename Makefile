PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := $(shell [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1 && echo "-c constraints/linux-cpu.txt")
PIP := $(BIN)/python -m pip install --progress-bar on --disable-pip-version-check $(CONSTRAINTS)
MODEL ?=

RUNS ?= 5
BENCH_MODEL ?= 256m

.PHONY: install install-test install-docs browser report-shot app-shot demo test lint docs format clean bench bench-decode bench-llamacpp bench-serve bench-app bench-audio bench-library bench-frames bench-highlights bench-reuse bench-archive bench-before wheel check-install

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints/linux-cpu.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "== installing chronicon-mlx and its libraries into $(VENV) (first time: a few minutes)"
	$(PIP) -e .
	@touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed
	@echo "== adding the test tools, torch and transformers (the second backend)"
	$(PIP) -e '.[test]'
	@touch $@

install-docs: $(VENV)/.installed-docs

$(VENV)/.installed-docs: $(VENV)/.installed
	@echo "== adding the documentation tools (mkdocs, its material theme, mkdocstrings)"
	$(PIP) -e '.[docs]'
	@touch $@

demo: install
	$(BIN)/python scripts/make_sample_video.py demo/sample.mp4
	@model="$(MODEL)"; [ -n "$$model" ] || model="$$($(BIN)/python scripts/demo_model.py)" || exit 1; \
	$(BIN)/chronicon-mlx analyze demo/sample.mp4 --model "$$model" --frames 8 --max-tokens 64 \
		--system "You are a precise video analyst." \
		--prompt "What moves in this clip, and in which direction?" \
		--output demo/sample_analysis.json --verbose && \
	echo "JSON record: demo/sample_analysis.json"

test: install-test browser
	CHRONICON_CACHE=$(CURDIR)/.cache $(BIN)/python -m pytest -n 2 -q

# The highlights page of a generated 2-minute clip, and its screenshot for the README.
report-shot: install browser
	$(BIN)/python scripts/make_sample_video.py --seconds 120 demo/match.mp4
	@model="$(MODEL)"; [ -n "$$model" ] || model="$$($(BIN)/python scripts/demo_model.py)" || exit 1; \
	$(BIN)/chronicon-mlx highlights demo/match.mp4 --model "$$model" --window 10 --overlap 2 \
		--frames-per-window 4 --format json,md,html --reel demo/match_highlights/reel.mp4 \
		--output demo/match_highlights --fresh
	@browser="$$(command -v chromium || command -v chromium-browser || command -v google-chrome)"; \
	[ -n "$$browser" ] || { echo "no Chromium for the screenshot"; exit 1; }; \
	"$$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1400 \
		--virtual-time-budget=5000 --screenshot=$(CURDIR)/docs/report.png \
		file://$(CURDIR)/demo/match_highlights/match_highlights.html 2>/dev/null && \
	echo "screenshot: docs/report.png"

# The web app at both widths, for the README and the serve page.
app-shot: install-test browser
	@model="$(MODEL)"; [ -n "$$model" ] || model="$$($(BIN)/python scripts/demo_model.py)" || exit 1; \
	$(BIN)/python scripts/app_shots.py "$$model"

# Headless Chromium for the report page's browser test: Debian's package when this machine
# can install it (root and apt-get), otherwise the test says why it was skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	command -v google-chrome >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "== installing Chromium (Debian's package) for the report page's browser test"; \
			{ apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
			  { apt-get update -q >/dev/null 2>&1 && \
			    apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; } || \
			echo "== could not install Chromium: the browser test will be skipped"; \
		else \
			echo "== no Chromium: the browser test will be skipped (install chromium to run it)"; \
		fi; }

bench: install-test
	$(BIN)/chronicon-mlx bench --model $(BENCH_MODEL) --random-weights --frames 8 --tokens 64 \
		--runs $(RUNS) --reference-blas --output results/bench.json

bench-decode: install-test
	$(BIN)/python scripts/bench_decode.py

bench-llamacpp: install-test
	@test -n "$(LLAMA_CPP)" || { echo "usage: make bench-llamacpp LLAMA_CPP=<a built llama.cpp source tree>"; exit 2; }
	$(BIN)/python scripts/bench_llamacpp.py $(LLAMA_CPP) --runs $(RUNS)

bench-serve: install-test
	$(BIN)/python scripts/bench_serve.py

bench-app: install-test browser
	$(BIN)/python scripts/bench_app.py

bench-audio: install-test
	$(BIN)/python scripts/bench_audio.py

bench-library: install-test
	$(BIN)/python scripts/bench_library.py

bench-frames: install-test
	$(BIN)/python scripts/bench_frames.py

bench-highlights: install-test
	$(BIN)/python scripts/bench_highlights.py

bench-reuse: install-test
	$(BIN)/python scripts/bench_reuse.py

bench-archive: install-test
	CHRONICON_CACHE=$(CURDIR)/.cache $(BIN)/python scripts/bench_archive.py

bench-before: install-test
	@test -n "$(REV)" || { echo "usage: make bench-before REV=<an earlier commit>"; exit 2; }
	$(BIN)/python scripts/bench_before.py $(REV) --runs $(RUNS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The documentation site, built strictly (a broken link or a missing page fails) into site/.
docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

wheel: install-test
	rm -rf dist && $(BIN)/python -m build --wheel --outdir dist .

check-install: wheel
	bash scripts/check_install.sh dist/*.whl

clean:
	rm -rf $(VENV) .cache demo results build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
