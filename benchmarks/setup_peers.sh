#!/usr/bin/env bash
# Create the peer environment used by the side-by-side benchmarks:
#   benchmarks/.venv-mlflow  with mlflow==3.17.2  (gitignored)
# Idempotent: does nothing when the venv already has the pinned MLflow.
# Note: pip's cache stays empty on these machines, so a fresh install downloads
# everything (a few minutes).
set -euo pipefail

MLFLOW_VERSION="3.17.2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-mlflow"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && \
   "$VENV/bin/python" -c "import mlflow, sys; sys.exit(0 if mlflow.__version__ == '$MLFLOW_VERSION' else 1)" 2>/dev/null; then
  echo "peer venv ready: $VENV (mlflow $MLFLOW_VERSION)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "installing mlflow==$MLFLOW_VERSION into $VENV (downloads everything; takes a few minutes)"
"$VENV/bin/python" -m pip install --quiet "mlflow==$MLFLOW_VERSION"
"$VENV/bin/python" -c "import mlflow; print('peer venv ready:', '$VENV', '(mlflow', mlflow.__version__ + ')')"
