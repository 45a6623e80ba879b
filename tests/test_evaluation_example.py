"""``examples/evaluate.ipynb``, executed in a real kernel; the store and the outputs are checked."""

from __future__ import annotations

import os

import nbformat
from test_examples import ROOT, WIDGET, execute, outputs, text_of

import jupyter_mlops as mlops
from jupyter_mlops.evaluation.record import stored_evaluations


def test_evaluate_example(store_dir, tmp_path):
    nb = execute("evaluate.ipynb", tmp_path)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = text_of(nb)
    assert "passed: True" in text and "f1 equals the report's: True" in text
    assert "the test set does not look like production" in text and "worst area" in text
    assert "deployment stopped" in text
    (panel,) = [o for o in outputs(nb, WIDGET) if "EvaluationPanel" in o["data"]["text/plain"]]
    static = panel["data"]["text/html"]
    assert "Evaluation" in static and "<svg" in static and "clinic" in static
    assert mlops.alias_holder("cancer-eval", "production") == 2
    stored = stored_evaluations("cancer-eval", 2)
    assert len(stored) == 2 and stored[-1]["passed"] is True
    assert stored[-1]["baseline"]["model"] == "models:/cancer-eval/1"


def test_evaluate_example_is_committed_without_outputs():
    nb = nbformat.read(os.path.join(ROOT, "examples", "evaluate.ipynb"), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
