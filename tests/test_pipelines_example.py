"""``examples/pipeline.ipynb`` runs top to bottom in a real kernel and does what it says."""

from __future__ import annotations

import os
import shutil

import nbformat
from nbclient import NotebookClient

import jupyter_mlops as mlops

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def text_of(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))


def test_example_exports_itself_to_every_target_and_runs_the_pipeline(
    tmp_path, monkeypatch, tracking_store
):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook exports into tempfile's folder
    notebook = shutil.copy(os.path.join(EXAMPLE, "pipeline.ipynb"), tmp_path)
    before = open(notebook, "rb").read()
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = text_of(nb)
    out = tmp_path / "jupyter_mlops_example"
    assert "python   python/pipeline.py" in text and "kfp      kfp/pipeline_kfp.py" in text
    assert (out / "airflow" / "pipeline_dag.py").is_file()
    assert "def run(inputs):" in text  # the printed step module
    assert "same as the notebook: True" in text
    assert "cached: ['load_data', 'features', 'train', 'evaluate']" in text
    assert "ran: ['train', 'evaluate']" in text
    runs = mlops.search_runs(["pipeline"], filter="tags.mlops.pipeline = 'pipeline'")
    assert len(runs) == 3 and set(runs["params.n_estimators"]) == {"100", "20"}
    assert open(notebook, "rb").read() == before  # exported, never written
