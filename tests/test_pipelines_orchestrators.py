"""The generated Airflow DAGs and Kubeflow pipelines, checked by Airflow and kfp themselves.

Airflow 3.3.2 and kfp 2.17.3 live in a venv under ``~/.cache/jupyter-mlops`` (built by
``tests/setup_orchestrators.sh`` when missing: Airflow would downgrade packages of the main
environment). Each check runs as a subprocess with that venv's Python. If the venv cannot be
built these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import test_pipelines_fixtures as fx
import venvs
import yaml

from jupyter_mlops.pipelines import build_pipeline, export_notebook, run_pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# Outside the checkout, so CI's fresh clones on one machine share it (it takes minutes to build).
VENV = os.environ.get("ORCHESTRATORS_VENV") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "jupyter-mlops",
    "venv-orchestrators-airflow-3.3.2-kfp-2.17.3",
)
EXAMPLE = os.path.join(REPO, "examples", "pipeline.ipynb")
NOTEBOOKS = ("tagged", "headings", "magics", "plain")

DAGBAG = """
import json, sys, warnings
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "warnings": {k: [str(w) for w in v] for k, v in bag.captured_warnings.items()},
    "dags": {
        i: {t.task_id: sorted(t.upstream_task_ids) for t in d.tasks} for i, d in bag.dags.items()
    },
    "params": {i: {k: d.params[k] for k in d.params} for i, d in bag.dags.items()},
}))
"""
DAG_TEST = """
import json, runpy, sys
from airflow.utils.db import initdb
initdb()
module = runpy.run_path(sys.argv[1], run_name="dag_file")
run = module[sys.argv[2]].test(run_conf=json.loads(sys.argv[3]))
print("STATE", run.state)
"""
KFP_COMPILE = """
import runpy, sys
for module in sys.argv[1:]:
    runpy.run_path(module, run_name="__main__")
"""
KFP_LOCAL = """
import importlib, json, sys
from kfp import local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
sys.path.insert(0, sys.argv[1])
importlib.import_module(sys.argv[3]).PIPELINE(**json.loads(sys.argv[4]))
"""


@pytest.fixture(scope="session")
def orchestrators() -> str:
    """The venv's Python, building the venv first when needed (idempotent; fails loudly)."""
    return venvs.build(
        ["setup_orchestrators.sh"],
        VENV,
        os.path.join("bin", "python"),
        {"ORCHESTRATORS_VENV": VENV},
    )


def venv_run(python: str, code: str, *args: str, env: dict | None = None, timeout: int = 600):
    """Run ``code`` with the venv's Python in a clean environment; fail with its stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AIRFLOW"))}
    done = subprocess.run(
        [python, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **(env or {})},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def exported(tmp_path, target: str) -> dict[str, tuple]:
    """Every test notebook and the example exported to ``target``: name → (pipeline, files)."""
    result = {}
    sources = {name: fx.copy(name, tmp_path / "notebooks") for name in NOTEBOOKS}
    sources["pipeline"] = shutil.copy(EXAMPLE, tmp_path / "notebooks")
    for name, notebook in sources.items():
        files = export_notebook(notebook, target, tmp_path / target / name)
        result[name] = (build_pipeline(notebook), files)
    return result


# -- Airflow ---------------------------------------------------------------------------------------
def test_airflow_dagbag_imports_every_generated_dag(orchestrators, tmp_path):
    pipelines = exported(tmp_path, "airflow")
    home = {"AIRFLOW_HOME": str(tmp_path / "airflow-home")}
    out = venv_run(orchestrators, DAGBAG, str(tmp_path / "airflow"), env=home)
    report = json.loads(out.strip().splitlines()[-1])  # Airflow logs to stdout before it
    assert report["errors"] == {} and report["warnings"] == {}
    assert sorted(report["dags"]) == sorted(pipelines)
    for name, (pipeline, _) in pipelines.items():
        expected = {s.name: sorted(s.after) for s in pipeline.steps}
        assert report["dags"][name] == expected, name
        assert report["params"][name] == pipeline.parameters


def test_airflow_runs_a_generated_dag_with_parameters(orchestrators, tmp_path, tracking_store):
    notebook = fx.copy("plain", tmp_path)
    (dag_file,) = [f for f in export_notebook(notebook, "airflow") if f.endswith("_dag.py")]
    env = {
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.dirname(dag_file),
        "JUPYTER_MLOPS_PIPELINE_DATA": str(tmp_path / "data"),
    }
    out = venv_run(orchestrators, DAG_TEST, dag_file, "plain", '{"n": 4}', env=env)
    assert "STATE success" in out
    (run_folder,) = os.listdir(tmp_path / "data")
    export_notebook(notebook, "python")
    local = run_pipeline(tmp_path / "plain_python", {"n": 4})
    for step in local.steps:
        for name in step.outputs:
            with open(tmp_path / "data" / run_folder / step.name / f"{name}.json") as fh:
                assert json.load(fh) == local.value(step.name, name), name
    assert local.metrics == {"score": 7.5}


# -- Kubeflow Pipelines ----------------------------------------------------------------------------
def test_kfp_compiles_every_generated_pipeline(orchestrators, tmp_path):
    pipelines = exported(tmp_path, "kfp")
    modules = [f for _, files in pipelines.values() for f in files if f.endswith("_kfp.py")]
    assert all(not f.endswith(".yaml") for _, files in pipelines.values() for f in files)
    venv_run(orchestrators, KFP_COMPILE, *modules)
    for name, (pipeline, files) in pipelines.items():
        with open(os.path.join(os.path.dirname(files[0]), f"{name}.yaml")) as fh:
            spec = yaml.safe_load(fh)
        assert spec["pipelineInfo"]["name"] == name.replace("_", "-")
        assert len(spec["deploymentSpec"]["executors"]) == len(pipeline.steps)
        tasks = spec["root"]["dag"]["tasks"]
        assert {t: sorted(v.get("dependentTasks", [])) for t, v in tasks.items()} == {
            s.name.replace("_", "-"): sorted(a.replace("_", "-") for a in s.after)
            for s in pipeline.steps
        }
        defaults = spec["root"].get("inputDefinitions", {}).get("parameters", {})
        assert {k: v["defaultValue"] for k, v in defaults.items()} == pipeline.parameters


def test_kfp_runs_a_generated_pipeline_locally(orchestrators, tmp_path, tracking_store):
    notebook = fx.copy("plain", tmp_path)
    module = next(f for f in export_notebook(notebook, "kfp") if f.endswith("_kfp.py"))
    root = tmp_path / "kfp-root"
    venv_run(orchestrators, KFP_LOCAL, os.path.dirname(module), str(root), "plain_kfp", '{"n": 4}')
    export_notebook(notebook, "python")
    local = run_pipeline(tmp_path / "plain_python", {"n": 4})
    (run_dir,) = os.listdir(root)
    for step in local.steps:
        for name in step.outputs:
            with open(root / run_dir / step.name / f"{name}_out" / "value.json") as fh:
                assert json.load(fh) == local.value(step.name, name), name


def test_export_compiles_the_yaml_when_kfp_is_installed(orchestrators, tmp_path):
    """Run in the venv: no IPython there either, so the fallback transformer is used."""
    notebook = fx.copy("magics", tmp_path)
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from jupyter_mlops.pipelines import export_notebook;"
        "print(json.dumps(export_notebook(sys.argv[2], 'kfp')))"
    )
    files = json.loads(venv_run(orchestrators, code, REPO, notebook).strip().splitlines()[-1])
    assert files[-1].endswith("magics.yaml")
    with open(files[-1]) as fh:
        spec = yaml.safe_load(fh)
    assert {"pipelineInfo", "deploymentSpec", "components", "root"} <= set(spec)
