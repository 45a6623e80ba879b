#!/usr/bin/env bash
# Build the orchestrator test environment (gitignored):
#   ~/.cache/jupyter-mlops/venv-orchestrators-...  with apache-airflow==3.3.2 and kfp==2.17.3
#
# The pipeline tests import generated Airflow DAGs into Airflow's own DagBag and compile
# generated Kubeflow pipelines with kfp's compiler, each in a subprocess that uses this venv's
# Python. They live apart from the main environment because Airflow would downgrade packages
# there (BUILD.md). Airflow's constraint files are not reachable here, so versions are pinned.
#
# Idempotent: exits at once when the venv already imports the pinned versions; a half-built
# venv (an interrupted install) is completed. Concurrent callers wait on a lock. Prints the time
# it took. Override the location with ORCHESTRATORS_VENV and the interpreter with PYTHON.
set -euo pipefail

AIRFLOW_VERSION="3.3.2"
KFP_VERSION="2.17.3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Outside the checkout, so fresh clones on one machine (CI) share it; the test module uses the
# same default.
VENV="${ORCHESTRATORS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyter-mlops/venv-orchestrators-airflow-$AIRFLOW_VERSION-kfp-$KFP_VERSION}"
PY="${PYTHON:-python3}"
START=$SECONDS

# Importing airflow writes airflow.cfg into AIRFLOW_HOME: never let it touch ~/airflow.
AIRFLOW_HOME="$(mktemp -d)"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT

MARKER="$VENV/.mlops-ready"
WANTED="apache-airflow==$AIRFLOW_VERSION kfp==$KFP_VERSION"

ready() {  # fast: the marker is written only after a verified install
  [ -x "$VENV/bin/python" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$WANTED" ]
}

verify() {
  "$VENV/bin/python" - <<PYEOF
import sys
from importlib.metadata import version
ok = version("apache-airflow") == "$AIRFLOW_VERSION" and version("kfp") == "$KFP_VERSION"
if ok:
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from kfp import compiler, dsl  # noqa: F401
sys.exit(0 if ok else 1)
PYEOF
}

build() {
  if ready; then
    echo "orchestrators venv ready: $VENV (airflow $AIRFLOW_VERSION, kfp $KFP_VERSION)"
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  echo "installing apache-airflow==$AIRFLOW_VERSION kfp==$KFP_VERSION into $VENV (downloads ~400 MB)"
  # This machine's pip config lists local indexes that may not exist: hide those warnings only.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "apache-airflow==$AIRFLOW_VERSION" "kfp==$KFP_VERSION" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  if ! verify; then
    echo "the orchestrators venv was built but does not import airflow $AIRFLOW_VERSION and kfp $KFP_VERSION" >&2
    return 1
  fi
  echo "$WANTED" > "$MARKER"
  echo "orchestrators venv built in $((SECONDS - START)) s: $VENV"
}

mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV.lock"
  flock 9
fi
build
