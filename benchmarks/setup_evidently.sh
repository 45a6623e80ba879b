#!/usr/bin/env bash
# Create the peer environment used by the drift benchmark (benchmarks/bench_drift.py):
#   benchmarks/.venv-evidently  with evidently==0.7.23 and pandas<3  (gitignored)
# Evidently 0.7.23 fails to import with pandas 3, hence its own environment.
# Idempotent: does nothing when the venv already has the pinned Evidently.
set -euo pipefail

EVIDENTLY_VERSION="0.7.23"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-evidently"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && \
   "$VENV/bin/python" -c "import evidently, sys; sys.exit(0 if evidently.__version__ == '$EVIDENTLY_VERSION' else 1)" 2>/dev/null; then
  echo "peer venv ready: $VENV (evidently $EVIDENTLY_VERSION)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "installing evidently==$EVIDENTLY_VERSION and pandas<3 into $VENV (takes a few minutes)"
"$VENV/bin/python" -m pip install --quiet "evidently==$EVIDENTLY_VERSION" "pandas<3"
"$VENV/bin/python" -c "import evidently; print('peer venv ready:', '$VENV', '(evidently', evidently.__version__ + ')')"
