#!/usr/bin/env bash
# Build the orchestrator test environment (cached outside the checkout):
#   ~/.cache/jupyter-mlops/venv-orchestrators-...  with apache-airflow==3.3.2 and kfp==2.17.3
#
# The pipeline tests import generated Airflow DAGs into Airflow's own DagBag and compile
# generated Kubeflow pipelines with kfp's compiler, each in a subprocess that uses this venv's
# Python. Airflow's constraint files are not reachable here, so versions are pinned. Override
# the location with ORCHESTRATORS_VENV and the interpreter with PYTHON; see setup_venv.sh.
set -euo pipefail

AIRFLOW_VERSION="3.3.2"
KFP_VERSION="2.17.3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${ORCHESTRATORS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyter-mlops/venv-orchestrators-airflow-$AIRFLOW_VERSION-kfp-$KFP_VERSION}"
exec bash "$HERE/setup_venv.sh" "$VENV" \
  "from airflow.dag_processing.dagbag import DagBag; from kfp import compiler, dsl" \
  "apache-airflow==$AIRFLOW_VERSION" "kfp==$KFP_VERSION"
