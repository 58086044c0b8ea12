#!/usr/bin/env bash
# Install a built wheel the ways people install CLI tools (pip in a fresh venv, pipx,
# uv tool install), each into a fresh place, and run its console script there.
#   bash scripts/check_install.sh dist/chronicon_mlx-*.whl
set -euo pipefail
wheel=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-python3}

echo "== pip, in a fresh venv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q "$wheel"
"$work/venv/bin/chronicon-mlx" doctor --no-self-test

echo "== pipx"
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --disable-pip-version-check -q pipx uv
PIPX_HOME="$work/pipx" PIPX_BIN_DIR="$work/pipx-bin" "$work/tools/bin/pipx" install -q "$wheel"
"$work/pipx-bin/chronicon-mlx" doctor --no-self-test

echo "== uv tool install"
UV_TOOL_DIR="$work/uv-tools" UV_TOOL_BIN_DIR="$work/uv-bin" "$work/tools/bin/uv" tool install -q "$wheel"
"$work/uv-bin/chronicon-mlx" doctor --no-self-test
echo "== all three installs run"
