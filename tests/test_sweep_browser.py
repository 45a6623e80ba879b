"""The side bar's Sweeps section in a real JupyterLab and Chromium (marker ``browser``).

A finished sweep is written to the lab's store from this process; a running one by a real
process beside it, as a kernel would. Screenshots (light and dark) go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import signal

import pytest
import sweep_scripts as scripts
from test_sidebar_browser import open_sidebar, section, set_theme  # lab_store: browser_fixtures

import jupyter_mlops as mlops

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def fit(params):
    """Training loss falls; validation turns worse after step 3 for a large lr (overfitting)."""
    if params["opt"] == "bad":
        raise ValueError("this optimizer diverged")
    for step in range(8):
        mlops.log_metric("train_loss", 1.0 / (step + 1), step=step)
        drift = params["lr"] * max(step - 3, 0)
        mlops.log_metric("val_loss", 1.0 / (step + 1) + 0.1 + drift + params["lr"] / 10, step=step)


def open_sweeps(page):
    sweeps = section(page, "sweeps")
    sweeps.locator(".jp-mlops-section-toggle").click()
    return sweeps


def test_a_finished_sweep_in_the_sidebar(lab_server, lab_store, lab_page, artifacts_dir):  # noqa: F811
    result = mlops.sweep(fit, {"lr": "loguniform(0.01, 0.5)", "opt": ["sgd", "adam", "bad"]},
                         name="lr-sweep", experiment="churn", trials=14, metric="val_loss",
                         pruner="none", seed=0)  # fmt: skip
    page = lab_page
    open_sidebar(page)
    sweeps = open_sweeps(page)
    sweeps.locator(".jp-mlops-sweep-item", has_text="lr-sweep").wait_for()
    assert sweeps.locator(".jp-mlops-sweep-chart").count() == 3
    best = sweeps.locator(".jp-mlops-sweep-bestline")
    assert f"trial {result.best_number}" in best.inner_text()
    rows = sweeps.locator(".jp-mlops-sweep-table tbody tr")
    assert rows.count() == 14
    assert rows.first.get_attribute("data-run-id") == result.best_run_id  # best first
    assert (
        sweeps.locator(".jp-mlops-sweep-table td.jp-mlops-sweep-failed").count()
        == (result.counts["failed"])
    )
    assert "overfitting in trial(s)" in sweeps.locator(".jp-mlops-sweep-warning").first.inner_text()
    history = sweeps.locator(".jp-mlops-sweep-chart").first
    assert history.locator("circle").count() == result.counts["complete"]
    rows.nth(0).click()
    rows.nth(1).click()
    compare = sweeps.locator(".jp-mlops-sweep-compare")
    compare.wait_for()
    assert compare.locator("thead th").all_inner_texts()[1:] == [
        f"#{n}" for n in (result.best_number, int(rows.nth(1).inner_text().split()[0]))
    ]
    page.set_viewport_size({"width": 1280, "height": 2000})  # the whole section in one picture
    sweeps.scroll_into_view_if_needed()
    sweeps.screenshot(path=str(artifacts_dir / "sidebar-sweeps-light.png"))
    set_theme(page, "JupyterLab Dark")
    sweeps.screenshot(path=str(artifacts_dir / "sidebar-sweeps-dark.png"))


def test_a_running_sweep_updates_in_the_sidebar(lab_server, lab_store, lab_page):  # noqa: F811
    proc = scripts.start(str(lab_server.store_dir), "live", 40, 1, TRIAL_SLEEP="0.3")
    try:
        page = lab_page
        open_sidebar(page)
        sweeps = open_sweeps(page)
        item = sweeps.locator(".jp-mlops-sweep-item", has_text="live")
        item.wait_for(timeout=60_000)
        assert "running" in item.text_content()
        rows = sweeps.locator(".jp-mlops-sweep-table tbody tr")
        rows.first.wait_for(timeout=30_000)
        first = rows.count()
        page.wait_for_function(
            f"() => document.querySelectorAll('[data-section=sweeps] .jp-mlops-sweep-table tbody"
            f" tr').length > {first}",
            timeout=60_000,
        )  # new trials appear without a click
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)
