"""examples/compare_runs.ipynb, executed by a real kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import jupyter_mlops as mlops

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "compare_runs.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PNG_IMG = '<svg class="jp-mlops-svg"'  # themed charts (the name kept for the diff)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The example run top to bottom against a fresh store; returns (notebook, store folder)."""
    store = tmp_path_factory.mktemp("store")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(store))
    monkeypatch.delenv("JUPYTER_MLOPS_EXPERIMENT", raising=False)
    try:
        notebook = nbformat.read(EXAMPLE, as_version=4)
        client = NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=300,
            resources={"metadata": {"path": str(EXAMPLE.parent)}},
        )
        client.execute()
    finally:
        monkeypatch.undo()
    return notebook, store


def panel_outputs(notebook):
    """The display outputs that carry a widget view, in order."""
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if WIDGET_VIEW in output.get("data", {})
    ]


def test_example_logs_the_sweep(executed):
    _, store = executed
    mlops.set_tracking_uri(str(store))
    try:
        runs = mlops.search_runs("gbm-sweep")
    finally:
        mlops.set_tracking_uri(None)
    assert len(runs) == 9  # the sweep and the live run
    assert set(runs["status"]) == {"FINISHED"}
    assert {"metrics.val_loss", "metrics.val_accuracy", "params.learning_rate"} <= set(runs)


def test_every_panel_has_a_widget_view_and_a_static_fallback(executed):
    notebook, _ = executed
    runs_panel, compare_panel, live_panel = panel_outputs(notebook)
    runs_html = runs_panel.data["text/html"]
    assert "<table" in runs_html and "gbm-lr0.05-depth1" in runs_html
    assert "page 1 of 1" in runs_html
    compare_html = compare_panel.data["text/html"]
    assert compare_html.count(PNG_IMG) == 3  # overlays, parallel coordinates, scatter
    assert "Comparing 8 runs" in compare_html and "Best run per metric" in compare_html
    assert "val_loss" in live_panel.data["text/html"]


def test_widget_state_is_saved_with_the_table_and_the_charts(executed):
    notebook, _ = executed
    state = notebook.metadata["widgets"][WIDGET_STATE]["state"]
    for output in panel_outputs(notebook):
        assert output.data[WIDGET_VIEW]["model_id"] in state
    models = state.values()
    tables = [
        m for m in models if m["model_name"] == "HTMLModel" and "<table" in m["state"]["value"]
    ]
    assert any("gbm-lr1.0-depth3" in m["state"]["value"] for m in tables)
    # The charts are themed SVG inside HTML widgets (they follow the light and dark themes).
    charts = [
        m for m in models if m["model_name"] == "HTMLModel" and PNG_IMG in m["state"]["value"]
    ]
    assert len(charts) >= 6


def test_live_run_ends_finished(executed):
    notebook, _ = executed
    last = notebook.cells[-1].outputs[-1]
    assert last.data["text/plain"] == "'FINISHED'"
