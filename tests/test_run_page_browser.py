"""The run page, nested runs and the runs table at the side bar's default width.

A real JupyterLab in a real Chromium (marker ``browser``); screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest

import jupyter_mlops as mlops
from tests.test_sidebar_browser import (  # the same lab, store and page helpers
    SIDEBAR,
    open_sidebar,
    section,
    set_theme,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def seed_pipeline():
    """A pipeline run with three step runs nested under it, and two plain runs."""
    from matplotlib.figure import Figure

    with mlops.start_run(name="pipeline-nightly", experiment="churn") as parent:
        mlops.log_params({"n_estimators": 200, "max_depth": 6, "learning_rate": 0.05})
        for step in range(60):
            mlops.log_metrics(
                {
                    "val_loss": 1 / (step + 2) + 0.01 * np.sin(step),
                    "val_accuracy": 0.7 + step / 250,
                },
                step=step,
            )
        mlops.log_metric("test_accuracy", 0.934)
        mlops.log_dataset(pd.DataFrame({"age": [31, 45, 52], "plan": ["a", "b", "a"]}), "train")
        mlops.log_text("epoch,loss\n0,0.9\n1,0.6\n2,0.4\n", "tables/history.csv")
        mlops.log_text("trained on 2025-03-01 data", "notes.txt")
        figure = Figure(figsize=(4, 3))
        figure.add_subplot().plot([0, 1, 2], [3, 1, 2])
        mlops.log_figure(figure, "plots/curve.png")
        for name in ("load", "features", "train"):
            with mlops.start_run(name=f"step-{name}", nested=True):
                mlops.log_metric("seconds", 1.5)
    for i in range(2):
        with mlops.start_run(name=f"baseline-{i}", experiment="churn"):
            mlops.log_metrics({"test_accuracy": 0.8 + i / 100, "val_loss": 0.5 - i / 10})
    mlops.flush()
    return parent.id


def test_nested_runs_fold_and_a_name_opens_the_run_page(
    lab_server, lab_store, lab_page, artifacts_dir
):
    page = lab_page
    parent_id = seed_pipeline()
    sidebar = open_sidebar(page)
    width = sidebar.bounding_box()["width"]
    experiments = section(page, "experiments")
    rows = experiments.locator(".jp-mlops-run-row[data-run-id]")
    rows.first.wait_for(timeout=30_000)

    # At the default width: the steps are folded under their pipeline, the name and the key
    # metric read in full, and the name column stays when the table scrolls sideways.
    names = rows.locator(".jp-mlops-run-name").all_text_contents()
    assert sorted(names) == ["baseline-0", "baseline-1", "pipeline-nightly"], names
    header = experiments.locator(".jp-mlops-runs-header .jp-mlops-runs-sort")
    titles = [
        t.replace("\u200b", "") for t in header.locator(".jp-mlops-runs-title").all_text_contents()
    ]
    # The top-level runs' metrics first (the steps' "seconds" last), each header in full.
    assert titles[0] == "Run" and set(titles[1:3]) <= {"test_accuracy", "val_loss", "val_accuracy"}
    assert titles.index("seconds") > titles.index("val_loss")
    for i in (1,):
        title = header.nth(i).locator(".jp-mlops-runs-title")
        assert title.evaluate(
            "el => el.scrollHeight <= el.clientHeight + 1 && el.scrollWidth <= el.clientWidth + 1"
        ), f"header {titles[i]} cut"
        box = header.nth(i).bounding_box()
        assert box["x"] + box["width"] <= sidebar.bounding_box()["x"] + width + 1
    page.screenshot(path=str(artifacts_dir / "sidebar-runs-default-width-light.png"))

    pipeline = rows.filter(has_text="pipeline-nightly")
    assert pipeline.locator(".jp-mlops-fold").get_attribute("title") == "Show 3 nested runs"
    pipeline.locator(".jp-mlops-fold").click()
    children = experiments.locator(".jp-mlops-child-row")
    children.first.wait_for()
    assert sorted(children.locator(".jp-mlops-run-name").all_text_contents()) == [
        "step-features",
        "step-load",
        "step-train",
    ]
    table = experiments.locator(".jp-mlops-runs")
    table.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    page.wait_for_timeout(200)
    name_box = pipeline.locator(".jp-mlops-name-cell").bounding_box()
    table_box = table.bounding_box()
    assert name_box["x"] - table_box["x"] < 40, "the name column scrolled away"
    assert pipeline.locator(".jp-mlops-run-name").is_visible()

    # Check boxes select runs for the comparison.
    rows.filter(has_text="baseline-0").locator(".jp-mlops-run-check").check()
    rows.filter(has_text="baseline-1").locator(".jp-mlops-run-check").check()
    experiments.locator(".jp-mlops-compare", has_text="Comparing 2 runs").wait_for()
    page.screenshot(path=str(artifacts_dir / "sidebar-runs-nested-light.png"))
    set_theme(page, "JupyterLab Dark")
    page.screenshot(path=str(artifacts_dir / "sidebar-runs-nested-dark.png"))
    set_theme(page, "JupyterLab Light")

    # The run's name opens its page in a main-area tab.
    pipeline.locator(".jp-mlops-run-name").click()
    run_page = page.locator(f"#jupyter-mlops-run-{parent_id}")
    run_page.locator(".jp-mlops-run-title").wait_for(timeout=30_000)
    assert run_page.locator(".jp-mlops-run-title").text_content() == "pipeline-nightly"
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="pipeline-nightly")
    assert tab.count() == 1
    for key in ("metrics", "charts", "params", "children", "datasets", "artifacts", "tags"):
        assert run_page.locator(f'[data-section="{key}"]').count() == 1, key
    charts = run_page.locator('[data-section="charts"] svg.jp-mlops-line-chart')
    assert charts.count() == 2  # val_loss and val_accuracy; test_accuracy is one point
    children_links = run_page.locator('[data-section="children"] .jp-mlops-run-link')
    assert children_links.count() == 3
    artifacts = run_page.locator('[data-section="artifacts"]')
    image = artifacts.locator("img.jp-mlops-artifact-image")
    image.wait_for()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert artifacts.locator("table.jp-mlops-run-table").count() == 1  # the CSV preview
    assert "trained on 2025-03-01 data" in artifacts.inner_text()
    assert width < 400  # the checks above held at the default width
    page.screenshot(path=str(artifacts_dir / "run-page-light.png"))
    set_theme(page, "JupyterLab Dark")
    page.screenshot(path=str(artifacts_dir / "run-page-dark.png"))

    # A child's link opens the child's page.
    children_links.filter(has_text="step-train").click()
    child = page.locator(".jp-mlops-run-page .jp-mlops-run-title", has_text="step-train")
    child.wait_for(timeout=30_000)
    assert "pipeline-nightly" in page.locator(".jp-mlops-run-page:visible").inner_text()
    assert page.locator(SIDEBAR).count() == 1


def test_the_drift_section_after_the_drift_example(lab_server, lab_store, lab_page, artifacts_dir):
    import os
    import shutil

    from nbclient import NotebookClient

    page = lab_page
    example = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "drift.ipynb")
    shutil.copy(example, lab_server.root_dir / "drift.ipynb")
    notebook = nbformat.read(lab_server.root_dir / "drift.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(lab_server.root_dir)}},
    ).execute()  # in the lab's store, as a user's kernel would

    open_sidebar(page)
    drift = section(page, "drift")
    # The windows, their alerts, and the two-sample report of %mlops_drift all show.
    alerts = drift.locator(".jp-mlops-drift-alerts")
    alerts.wait_for(timeout=30_000)
    assert "drifted window" in alerts.inner_text() and "cancer-live" in alerts.inner_text()
    report = drift.locator(".jp-mlops-report", has_text="current vs reference")
    assert report.count() >= 1
    report.first.click()
    bars = drift.locator(".jp-mlops-drift-bars")
    bars.wait_for()
    assert bars.locator(".jp-mlops-drifted").count() > 0
    over_time = drift.locator('.jp-mlops-drift-time[data-series^="cancer-live"] svg')
    assert over_time.locator(".jp-mlops-chart-alert").count() >= 1
    drift.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(artifacts_dir / "sidebar-drift-after-example-light.png"))
    set_theme(page, "JupyterLab Dark")
    drift.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(artifacts_dir / "sidebar-drift-after-example-dark.png"))
    # The filter error wraps at the default width instead of being clipped.
    experiments = section(page, "experiments")
    experiments.evaluate("el => el.scrollIntoView({block: 'start'})")
    box = experiments.locator(".jp-mlops-filter")
    box.fill("metrics.accuracy > and params.model = 'a really long value that is clipped'")
    box.press("Enter")
    error = experiments.locator(".jp-mlops-filter-error")
    error.wait_for(state="visible")
    assert error.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    page.screenshot(path=str(artifacts_dir / "sidebar-filter-error-dark.png"))
