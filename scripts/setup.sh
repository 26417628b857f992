#!/usr/bin/env bash
# Create .venv and install REUCID with its development extras.
# torch is pinned to the CPU build that lies on this machine's disk *before* the
# project is installed, so the project's torch range installs nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
