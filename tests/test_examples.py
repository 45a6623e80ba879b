"""The example notebooks, executed in a real kernel; the store and outputs are checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_mlops.store.embedded import EmbeddedStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDGET = "application/vnd.jupyter.widget-view+json"


def execute(name: str, work) -> nbformat.NotebookNode:
    """Run a copy of ``examples/<name>`` in ``work`` (the original is never touched)."""
    path = work / name
    shutil.copy(os.path.join(ROOT, "examples", name), path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    return nb


def outputs(nb, mime: str) -> list:
    return [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if mime in o.get("data", {})
    ]


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_quickstart_through_the_demo_command(store_dir, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", "demo"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path / "work",
    )
    assert done.returncode == 0, done.stderr
    assert "Recorded 3 run(s)" in done.stdout and "MLOps sidebar" in done.stdout
    assert list((tmp_path / "work").iterdir()) == []  # nothing left in the current folder
    saved = done.stdout.split("Executed notebook saved to ", 1)[1].split(".\n", 1)[0]
    assert saved.endswith("quickstart-output.ipynb") and os.path.exists(saved)
    # The quickstart ends on panels: the runs panel and the run page, not raw epoch times.
    executed = nbformat.read(saved, as_version=4)
    panels = [o["data"]["text/plain"] for o in outputs(executed, WIDGET)]
    assert any(p.startswith("<RunsPanel") for p in panels)
    assert any(p.startswith("<RunPanel sgd-epochs") for p in panels)
    assert "timestamp" not in text_of(executed)
    scores = {
        r["run_name"]: r["metrics"]["test_accuracy"]["last"]
        for r in EmbeddedStore.open(str(store_dir)).list_runs()
        if "test_accuracy" in r["metrics"]
    }
    assert all(score < 1.0 for score in scores.values()), scores  # not a 1.000 demo
    store = EmbeddedStore.open(str(store_dir))
    runs = {r["run_name"]: r for r in store.list_runs()}
    assert {"random-forest", "logistic-regression", "sgd-epochs"} <= set(runs)
    forest = runs["random-forest"]
    assert forest["status"] == "FINISHED"
    assert forest["params"]["n_estimators"] == "100"
    assert forest["metrics"]["test_accuracy"]["last"] > 0.8
    assert "training_accuracy_score" in forest["metrics"]
    assert "model/model.pkl" in forest["artifacts"] and "code/cell.py" in forest["artifacts"]
    assert forest["tags"]["mlops.source.name"].endswith("quickstart.ipynb")
    assert forest["datasets"] and forest["datasets"][0]["rows"] > 100
    assert runs["sgd-epochs"]["metrics"]["val_accuracy"]["count"] == 20


def test_registry_example(store_dir, tmp_path):
    nb = execute("registry.ipynb", tmp_path)
    text = text_of(nb)
    assert "Promotion of cancer v1 to 'production' refused" in text
    assert "cancer v2 promoted to @production" in text
    import jupyter_mlops as mlops

    assert mlops.alias_holder("cancer", "production") == 2
    assert mlops.get_model_version("cancer", 1).validations[0]["passed"] is False
    panel = outputs(nb, WIDGET)[-1]
    assert "Alias history" in panel["data"]["text/html"]

    # Run again in the same store: new versions, the gate passes again, no error.
    again = execute("registry.ipynb", tmp_path)
    text = text_of(again)
    assert "Promotion of cancer v3 to 'production' refused" in text
    assert "cancer v4 promoted to @production" in text
    assert not [o for c in again.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert mlops.alias_holder("cancer", "production") == 4


def test_deploy_example(store_dir, tmp_path):
    nb = execute("deploy.ipynb", tmp_path)
    text = text_of(nb)
    assert "'predictions': [0, 0, 0]" in text
    assert "400 Missing column(s)" in text
    assert "stopped iris-demo" in text
    status = outputs(nb, WIDGET)[-1]["data"]["text/html"]
    assert "iris-demo" in status and "running" in status
    assert os.path.exists(tmp_path / "iris-k8s" / "deployment.yaml")
    import jupyter_mlops as mlops

    assert mlops.get_deployment("iris-demo").status == "stopped"


@pytest.mark.parametrize("name", ["registry.ipynb", "deploy.ipynb", "quickstart.ipynb"])
def test_examples_are_committed_without_outputs(name):
    nb = nbformat.read(os.path.join(ROOT, "examples", name), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
