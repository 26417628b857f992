#!/usr/bin/env bash
# Create .venv and install REUCID with its development extras.
# torch is pinned to the CPU build that lies on this machine's disk *before* the
# project is installed, so the project's torch range installs nothing more.
# The install is skipped when pyproject.toml is unchanged since the last one that succeeded
# (REUCID_FORCE_SETUP=1 forces it), so start.sh and test.sh start quickly the second time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.reucid-setup-stamp
wanted=$(python -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest())")
if [ "${REUCID_FORCE_SETUP:-0}" != "1" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] \
  && python -c "import importlib.metadata as m, importlib.util as u, sys
m.version('reucid')  # raises when the project itself is not installed
sys.exit(0 if all(u.find_spec(x) for x in ('torch', 'django', 'celery', 'pytest')) else 1)" \
    2>/dev/null
then
  exit 0
fi
python -m pip install -q --upgrade pip wheel
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
echo "$wanted" > "$stamp"
