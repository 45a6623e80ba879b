"""examples/pytorch.ipynb, executed in a real kernel on the CPU build of torch."""

from __future__ import annotations

import os

import nbformat
from test_examples import ROOT, execute, outputs, text_of

import jupyter_mlops as mlops
from jupyter_mlops.tracking import fluent
from jupyter_mlops.viz.fit_diagnosis import diagnose_runs


def test_pytorch_example(store_dir, tmp_path):
    nb = execute("pytorch.ipynb", tmp_path)
    text = text_of(nb)
    runs = {r["run_name"]: r for r in fluent.find_runs("digits-torch")}
    assert sorted(runs) == ["mlp-256-100-images", "mlp-32"]
    small = mlops.get_run(runs["mlp-32"]["run_id"])
    assert (
        small.params["optimizer_name"] == "Adam" and small.params["loss_name"] == "CrossEntropyLoss"
    )
    assert small.metrics["epochs"] == 12 and small.metrics["steps"] == 12 * 24
    assert "model/MLmodel.json" in small.artifacts
    assert "system/cpu_utilization_percentage" in small.metrics  # --system-metrics
    accuracy = mlops.get_metric_history(small.id, "Accuracy/val")  # from the SummaryWriter
    assert accuracy.step.tolist() == list(range(12)) and accuracy.value.iloc[-1] > 0.85
    assert (tmp_path / "runs" / "mlp-32").is_dir()  # the writer's own event files
    flags = diagnose_runs(list(runs.values()))
    assert flags[small.id] == []
    (flag,) = flags[runs["mlp-256-100-images"]["run_id"]]
    assert flag.kind == "overfitting"
    assert f"mlp-256-100-images ['{flag.message}']" in text
    panels = [o["data"]["text/html"] for o in outputs(nb, "text/html")]
    (compare_panel,) = [html for html in panels if "Fit (training vs validation)" in html]
    assert f"⚠ {flag.message}" in compare_panel and "System metrics" in compare_panel
    assert "TensorBoard at http://127.0.0.1:" in text and "stopped 1 TensorBoard" in text
    assert (tmp_path / "tb_logs" / "digits-torch").is_dir()


def test_the_example_is_committed_without_outputs():
    nb = nbformat.read(os.path.join(ROOT, "examples", "pytorch.ipynb"), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
