#!/usr/bin/env bash
# Create the peer environments used by the data-contract benchmark (benchmarks/bench_contracts.py):
#   benchmarks/.venv-pandera  with pandera[pandas]==$PANDERA_VERSION           (gitignored)
#   benchmarks/.venv-gx       with great_expectations==$GX_VERSION             (gitignored)
# Each peer gets its own environment so neither drags its pins into ours.
# Idempotent: does nothing for a venv that already has the pinned version.
set -euo pipefail

PANDERA_VERSION="${PANDERA_VERSION:-0.35.0}"
GX_VERSION="${GX_VERSION:-1.24.1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"

make_venv() {  # make_venv DIR MODULE VERSION PIP-SPEC...
  local venv="$1" module="$2" version="$3"
  shift 3
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c \
      "import importlib.metadata as m, sys; sys.exit(0 if m.version('$module') == '$version' else 1)" \
      2>/dev/null; then
    echo "peer venv ready: $venv ($module $version)"
    return
  fi
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  echo "installing $* into $venv (takes a few minutes)"
  "$venv/bin/python" -m pip install --quiet "$@"
  echo "peer venv ready: $venv ($module $("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$module'))"))"
}

make_venv "$HERE/.venv-pandera" pandera "$PANDERA_VERSION" "pandera[pandas]==$PANDERA_VERSION" pyyaml
make_venv "$HERE/.venv-gx" great_expectations "$GX_VERSION" "great_expectations==$GX_VERSION"
