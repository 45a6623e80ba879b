"""Fit flags and system metrics as users see them: the compare panel, the run page, its route."""

from __future__ import annotations

import json

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.jupyter.panels_compare import ComparePanel
from jupyter_mlops.jupyter.panels_run import RunPanel
from jupyter_mlops.viz.run_page import run_page

FALLING = [2.0, 1.5, 1.1, 0.8, 0.6, 0.45, 0.35, 0.28, 0.22, 0.18]
U_SHAPE = [2.0, 1.6, 1.2, 0.9, 0.7, 0.65, 0.7, 0.8, 0.9, 1.0]
NASTY = "<img src=x onerror=alert(1)>"
OVERFIT = (
    "⚠ overfitting: val_loss is worse than its best (step 5) for 4 evaluations while "
    "train_loss keeps improving; stop near step 5"
)


def curves(name, train, val, system=False):
    with mlops.start_run(name=name, experiment="fit", system_metrics=system) as run:
        for t, v in zip(train, val, strict=True):
            mlops.log_metrics({"train_loss": t, "val_loss": v})
    return run


@pytest.fixture
def three_runs(store_dir):
    over = curves(NASTY, FALLING, U_SHAPE)
    fine = curves("fine", FALLING, [v * 1.1 for v in FALLING], system=True)
    with mlops.start_run(name="plain", experiment="fit") as plain:
        mlops.log_metric("accuracy", 0.9)
    return over, fine, plain


def test_the_compare_panel_flags_overfitting_and_shows_system_metrics(three_runs):
    over, fine, plain = three_runs
    panel = ComparePanel([over.id, fine.id, plain.id], live=False)
    html = panel.static_html()
    assert "Fit (training vs validation)" in html
    assert OVERFIT in html and "no overfitting or underfitting flag" in html
    assert NASTY not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("jp-mlops-fit-overfitting") == 1
    # the system metrics have a section of their own, not twelve charts of the history
    assert not any(m.startswith("system/") for m in panel.metrics)
    assert "System metrics" in html and "cpu utilization (%)" in html
    assert "system memory usage (MB)" in html and "<svg" in panel.system_image.value
    assert panel.fit_html.value.count("<tr>") == 1 + 2  # header, the two runs with curves


def test_without_curves_or_system_metrics_the_sections_stay_away(store_dir):
    with mlops.start_run(name="a") as a:
        mlops.log_metric("accuracy", 0.9)
    with mlops.start_run(name="b") as b:
        mlops.log_metric("accuracy", 0.8)
    html = ComparePanel([a.id, b.id], live=False).static_html()
    assert "Fit (training vs validation)" not in html and "System metrics" not in html


def test_the_run_page_has_a_fit_section(three_runs):
    over, fine, plain = three_runs
    assert run_page(over.id)["sections"]["Fit"] == {"overfitting": OVERFIT.split(": ", 1)[1]}
    assert run_page(fine.id)["sections"]["Fit"] == {
        "verdict": "no overfitting or underfitting flag (train_loss / val_loss)"
    }
    assert "Fit" not in run_page(plain.id)["sections"]
    html = RunPanel(over.id).static_html()
    assert "Fit" in html and OVERFIT.split(": ", 1)[1] in html


async def test_the_run_page_route_carries_the_flag(jp_fetch):
    run = curves("over", FALLING, U_SHAPE)
    mlops.flush()
    response = await jp_fetch("jupyter-mlops", "api", "runs", run.id, "page")
    page = json.loads(response.body)
    assert page["sections"]["Fit"]["overfitting"].startswith("val_loss is worse than its best")
    assert page["section_errors"] == {}
