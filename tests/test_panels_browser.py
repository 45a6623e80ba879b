"""examples/compare_runs.ipynb in a real JupyterLab, in a real Chromium: the panels render."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(480)]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "compare_runs.ipynb"
NOTEBOOK = "compare_runs.ipynb"
RUNS_CELL, COMPARE_CELL, LIVE_CELL = 7, 10, 12  # the cells with %mlops_runs, %mlops_compare

CODE_CELLS = 8


def open_and_run(page, lab_server):
    """Open the example, wait for its kernel, run every cell and wait until all have run."""
    shutil.copy(EXAMPLE, lab_server.root_dir / NOTEBOOK)
    page.goto(lab_server.page_url(f"lab/tree/{NOTEBOOK}"), wait_until="domcontentloaded")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    close_left_sidebar(page)
    # The toolbar says idle before the kernel exists: wait for the status bar's kernel name too.
    status = page.locator("#jp-main-statusbar")
    page.wait_for_function(
        "el => /Python 3.*Idle/.test(el.innerText)",
        arg=status.element_handle(),
        timeout=120_000,
        polling=500,
    )
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    prompts = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")
    page.wait_for_function(
        """([cells, count]) => {
          const texts = Array.from(document.querySelectorAll(cells)).map(p => p.textContent);
          return texts.length === count && texts.every(t => /\\[\\d+\\]/.test(t));
        }""",
        arg=[".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt", CODE_CELLS],
        timeout=300_000,
        polling=1000,
    )
    assert prompts.count() == CODE_CELLS
    outputs = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
    assert not [text for text in outputs if "Traceback" in text], lab_server.log_tail()
    assert "'FINISHED'" in outputs[-1]


def close_left_sidebar(page):
    """Collapse the file browser, so the notebook gets the whole width."""
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if tab.count():
        tab.first.click()


def output_of(page, index):
    """The output area of the notebook's ``index``-th cell, scrolled to the top of the view."""
    cell = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)
    cell.evaluate("el => el.scrollIntoView({block: 'start'})")
    return cell.locator(".jp-OutputArea-output")


def test_compare_panels_render_in_jupyterlab(lab_server, lab_page, artifacts_dir):
    page = lab_page
    open_and_run(page, lab_server)
    page.set_viewport_size({"width": 1280, "height": 1500})

    runs = output_of(page, RUNS_CELL)
    table = runs.locator(".widget-html-content table.jp-mlops-table").first
    table.wait_for(state="visible", timeout=30_000)
    assert "gbm-lr0.05-depth1" in table.inner_text()
    assert "page 1 of 1" in runs.inner_text()
    # The order in force (-o "metrics.val_loss ASC") is what the sort control shows, and each
    # row has its check box, lined up with the row.
    sort = runs.locator(".widget-dropdown select").first
    assert sort.evaluate("el => el.options[el.selectedIndex].text").split() == [
        "val_loss",
        "(last)",
    ]
    checks = runs.locator(".jp-mlops-checks input[type=checkbox]:visible")
    assert checks.count() == 8
    rows = table.locator("tbody tr")
    for i in (0, 7):
        box, row = checks.nth(i).bounding_box(), rows.nth(i).bounding_box()
        middle = box["y"] + box["height"] / 2
        assert row["y"] <= middle <= row["y"] + row["height"], (i, box, row)
    page.screenshot(path=str(artifacts_dir / "runs-panel.png"))

    compare = output_of(page, COMPARE_CELL)
    compare.locator("text=Comparing 8 runs").wait_for(state="visible", timeout=30_000)
    chart = compare.locator("svg.jp-mlops-svg").first
    chart.wait_for(state="visible", timeout=30_000)
    assert chart.bounding_box()["width"] > 600
    assert compare.locator(".widget-html-content table.jp-mlops-table").count() >= 2
    notebook_text = page.locator(".jp-NotebookPanel").inner_text()
    assert "Loading widget" not in notebook_text
    assert "Error displaying widget" not in notebook_text
    page.screenshot(path=str(artifacts_dir / "compare-panel.png"))
    compare.locator("text=Parallel coordinates").evaluate("el => el.scrollIntoView()")
    page.screenshot(path=str(artifacts_dir / "compare-charts.png"))

    # The live panel was redrawn by its kernel thread while the next cell trained, and said
    # so when the run ended: widget updates sent from a thread reach the page.
    live = output_of(page, LIVE_CELL)
    live.locator("text=live view ended").wait_for(state="visible", timeout=30_000)
    summary = live.locator(".widget-html-content table.jp-mlops-table").nth(1).inner_text()
    assert "gbm-live" in summary and "0.9" in summary
    page.screenshot(path=str(artifacts_dir / "compare-live.png"))
