"""Notebook panels in a real JupyterLab in a real Chromium, light and dark (marker ``browser``).

A notebook runs in the UI: a tracked cell (its summary line links the run page), the
comparison, drift and run panels. Their charts are themed SVG: in the dark theme the text is
light and nothing is a white box. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import nbformat
import pytest

import jupyter_mlops as mlops
from tests.test_sidebar_browser import run_notebook_in_ui, set_theme, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = """%load_ext jupyter_mlops
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
reference = pd.DataFrame({"age": rng.normal(40, 5, 400), "income": rng.normal(3000, 300, 400),
                          "plan": rng.choice(["a", "b", "c"], 400)})
current = reference.assign(age=reference.age + 6, income=reference.income * 1.2)"""
TRACKED = """%%mlops_track -e notebook-demo -n tracked-in-ui -m acc -m loss
acc = 0.91
loss = [0.9, 0.55, 0.4, 0.33, 0.3]"""


def seed_runs():
    ids = []
    for i, lr in enumerate((0.05, 0.2, 0.5)):
        with mlops.start_run(name=f"gbm-lr{lr}", experiment="notebook-demo") as run:
            mlops.log_params({"learning_rate": lr, "max_depth": 2 + i})
            for step in range(30):
                mlops.log_metrics(
                    {
                        "val_loss": 0.7 / (1 + lr * step) + 0.05 * i,
                        "val_accuracy": 0.8 + lr * step / 100,
                    },
                    step=step,
                )
        ids.append(run.id)
    mlops.flush()
    return ids


def luminance(rgb: str) -> float:
    """0 (black) .. 1 (white) of a computed ``rgb(...)``/``rgba(...)`` colour."""
    parts = [float(p) for p in rgb[rgb.index("(") + 1 : -1].split(",")[:3]]
    return sum(parts) / (3 * 255)


def test_notebook_panels_follow_the_theme_and_link_the_run_page(
    lab_server, lab_store, lab_page, artifacts_dir
):
    page = lab_page
    ids = seed_runs()
    write_notebook(
        lab_server.root_dir / "panels.ipynb",
        [
            nbformat.v4.new_code_cell(SETUP),
            nbformat.v4.new_code_cell(TRACKED),
            nbformat.v4.new_code_cell(f"%mlops_compare {' '.join(ids)} --no-live"),
            nbformat.v4.new_code_cell("%mlops_drift reference current"),
            nbformat.v4.new_code_cell(f"%mlops_run {ids[1]}"),
        ],
    )
    run_notebook_in_ui(page, lab_server, "panels.ipynb", cells=5)
    notebook = page.locator(".jp-NotebookPanel")
    cells = notebook.locator(".jp-CodeCell")

    # Charts are inline SVG in JupyterLab's colours; the drift bars fill the output's width.
    compare_svg = cells.nth(2).locator("svg.jp-mlops-svg").first
    compare_svg.wait_for(timeout=60_000)
    assert cells.nth(2).locator("svg.jp-mlops-svg").count() == 3
    bars = cells.nth(3).locator(".jp-mlops-bars")
    bars.wait_for()
    output_width = cells.nth(3).locator(".jp-OutputArea-output").first.bounding_box()["width"]
    assert bars.bounding_box()["width"] > 0.6 * min(output_width, 1100)
    drifted = bars.locator(".jp-mlops-bar.jp-mlops-drifted")
    assert drifted.count() == 2  # age and income; the longest bars come first
    widths = [
        b["width"] for b in (bars.locator(".jp-mlops-bar").nth(i).bounding_box() for i in range(3))
    ]
    assert widths == sorted(widths, reverse=True)
    cells.nth(1).scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "notebook-panels-light.png"))
    cells.nth(3).locator(".jp-mlops-alert").first.evaluate("el => el.scrollIntoView()")
    page.screenshot(path=str(artifacts_dir / "notebook-drift-light.png"))

    set_theme(page, "JupyterLab Dark")
    text = compare_svg.locator("text").first
    assert luminance(text.evaluate("el => getComputedStyle(el).fill")) > 0.6  # light on dark
    banner = cells.nth(3).locator(".jp-mlops-alert").first
    assert luminance(banner.evaluate("el => getComputedStyle(el).color")) > 0.6
    banner.evaluate("el => el.scrollIntoView()")
    page.screenshot(path=str(artifacts_dir / "notebook-drift-dark.png"))
    compare_svg.evaluate("el => el.scrollIntoView()")
    page.screenshot(path=str(artifacts_dir / "notebook-compare-dark.png"))
    cells.nth(4).locator(".jp-mlops-run-title").evaluate("el => el.scrollIntoView()")
    page.screenshot(path=str(artifacts_dir / "notebook-run-page-dark.png"))

    # The tracked cell's one-line summary links its run page, which opens as a tab.
    cells.nth(1).evaluate("el => el.scrollIntoView()")
    link = cells.nth(1).locator("a.jp-mlops-run-link", has_text="tracked-in-ui")
    link.wait_for()
    assert "acc=0.91" in cells.nth(1).locator(".jp-OutputArea").inner_text()
    link.click()
    run_page = page.locator(".jp-mlops-run-page .jp-mlops-run-title", has_text="tracked-in-ui")
    run_page.wait_for(timeout=30_000)
    code = page.locator('.jp-mlops-run-page [data-section="code"]')
    code.wait_for(timeout=30_000)
    assert "loss = [0.9, 0.55" in code.inner_text()
    page.screenshot(path=str(artifacts_dir / "run-page-from-notebook-dark.png"))
