#!/usr/bin/env bash
# Build (or find) a pinned helper venv for the tests, outside the checkout:
#   tests/setup_venv.sh VENV IMPORTS REQUIREMENT...
# e.g. tests/setup_venv.sh ~/.cache/jupyter-mlops/venv-x "import mlflow" mlflow==3.17.2
#
# Some tests drive tools that must not share the main environment (Airflow would downgrade its
# packages; an MLflow server brings pyarrow, which changes pandas' string storage). Each lives in
# its own venv, cached under ~/.cache/jupyter-mlops so fresh clones on one machine (CI) share it.
#
# Idempotent: exits at once when the venv was verified before (a marker file names the pinned
# requirements); a half-built venv (an interrupted install) is completed. Every REQUIREMENT must
# be NAME==VERSION: the build is verified by installed versions and by running IMPORTS.
# Concurrent callers wait on a lock. Prints the time it took. PYTHON picks the interpreter.
set -euo pipefail

VENV="$1"; IMPORTS="$2"; shift 2
REQUIREMENTS=("$@")
PY="${PYTHON:-python3}"
START=$SECONDS
MARKER="$VENV/.mlops-ready"
WANTED="${REQUIREMENTS[*]}"

# Importing airflow writes airflow.cfg into AIRFLOW_HOME: never let a check touch ~/airflow.
AIRFLOW_HOME="$(mktemp -d)"
export AIRFLOW_HOME
trap 'rm -rf "$AIRFLOW_HOME"' EXIT

ready() {  # fast: the marker is written only after a verified install
  [ -x "$VENV/bin/python" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$WANTED" ]
}

verify() {
  "$VENV/bin/python" - "${REQUIREMENTS[@]}" <<PYEOF
import sys
from importlib.metadata import version
for requirement in sys.argv[1:]:
    name, _, wanted = requirement.partition("==")
    if version(name) != wanted:
        sys.exit(f"{name} is {version(name)}, not {wanted}")
$IMPORTS
PYEOF
}

build() {
  if ready; then
    echo "venv ready: $VENV ($WANTED)"
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  echo "installing $WANTED into $VENV (pip's cache is empty here: this downloads everything)"
  # This machine's pip config lists local indexes that may not exist: hide those warnings only.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  if ! verify; then
    echo "the venv $VENV was built but does not import $WANTED" >&2
    return 1
  fi
  echo "$WANTED" > "$MARKER"
  echo "venv built in $((SECONDS - START)) s: $VENV"
}

mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV.lock"
  flock 9
fi
build
