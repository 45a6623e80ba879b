"""The MLOps side bar against a real JupyterLab in a real Chromium (marker ``browser``).

Each test starts its own ``jupyter lab`` (tests/browser_fixtures.py) and writes to that lab's
store from this process, as a kernel or a model server would. Screenshots of the light and the
dark theme go to ``test-artifacts/``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SIDEBAR = "#jupyter-mlops-sidebar"
XSS_NAME = "<img src=x onerror=alert(1)>"
NOTEBOOK = "track.ipynb"
TRACK_CELL = """%%mlops_track -e sidebar-demo -n rf-ui -m acc -m loss
acc = 0.97
loss = [0.9, 0.6, 0.45, 0.3, 0.24]"""


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def dialogs(lab_page):
    """Every browser dialog (alert, confirm...) the page opens; each is dismissed."""
    opened = []

    def record(dialog):
        opened.append(dialog.message)
        dialog.dismiss()

    lab_page.on("dialog", record)
    return opened


def seed_runs(experiment="churn", count=4):
    """Runs with params and a loss curve; one of them has a name that is HTML."""
    for i in range(count):
        name = XSS_NAME if i == count - 1 else f"gbm-{i}"
        with mlops.start_run(name=name, experiment=experiment):
            mlops.log_params({"max_depth": i + 2, "model": "gbm"})
            mlops.log_metric("acc", 0.8 + 0.03 * i)
            for step in range(6):
                mlops.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            if name == XSS_NAME:
                mlops.log_param("note", "<script>window.__xss = 1</script>")
    mlops.flush()


def open_sidebar(page):
    page.locator('.jp-SideBar [data-id="jupyter-mlops-sidebar"]').click()
    page.locator(SIDEBAR).wait_for(state="visible")
    return page.locator(SIDEBAR)


def section(page, key):
    return page.locator(f'{SIDEBAR} [data-section="{key}"]')


def widen_sidebar(page, width=620):
    """Drag the handle between the left side bar and the main area to ``width`` px."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(width, box["y"] + 200, steps=5)
    page.mouse.up()


def run_rows(page):
    return section(page, "experiments").locator(".jp-mlops-run-row[data-run-id]")


def run_names(page):
    return run_rows(page).locator(".jp-mlops-run-name").all_text_contents()


def wait_for_names(page, expected, timeout=20_000):
    """Until the runs table shows exactly ``expected`` (in any order)."""
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        if sorted(run_names(page)) == sorted(expected):
            return
        page.wait_for_timeout(200)
    assert sorted(run_names(page)) == sorted(expected)


def set_filter(page, text):
    box = section(page, "experiments").locator(".jp-mlops-filter")
    box.fill(text)
    box.press("Enter")


def set_theme(page, name):
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    light = "true" if name == "JupyterLab Light" else "false"
    page.wait_for_selector(f'body[data-jp-theme-light="{light}"]', state="attached", timeout=30_000)
    page.wait_for_timeout(500)


def run_notebook_in_ui(page, lab_server, notebook=NOTEBOOK, cells=2):
    """Open ``notebook``, wait for its kernel, run all cells, wait until every cell has run."""
    page.goto(lab_server.page_url(f"lab/tree/{notebook}"), wait_until="domcontentloaded")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    # The toolbar says idle before the kernel exists: wait for the status bar's kernel too.
    page.wait_for_function(
        "el => /Python 3.*Idle/.test(el.innerText)",
        arg=page.locator("#jp-main-statusbar").element_handle(),
        timeout=120_000,
        polling=500,
    )
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_function(
        """([sel, count]) => {
          const prompts = Array.from(document.querySelectorAll(sel));
          return prompts.length === count && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        arg=[".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt", cells],
        timeout=120_000,
        polling=500,
    )
    outputs = page.locator(".jp-NotebookPanel .jp-OutputArea").all_inner_texts()
    assert not [t for t in outputs if "Traceback" in t or "Error" in t], outputs


def write_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))


# -- experiments ----------------------------------------------------------------------------------
def test_a_cell_run_in_the_ui_appears_filters_sorts_and_compares(
    lab_server, lab_store, lab_page, dialogs, artifacts_dir
):
    page = lab_page
    seed_runs()
    write_notebook(
        lab_server.root_dir / NOTEBOOK,
        [
            nbformat.v4.new_code_cell("%load_ext jupyter_mlops"),
            nbformat.v4.new_code_cell(TRACK_CELL),
        ],
    )
    run_notebook_in_ui(page, lab_server)
    open_sidebar(page)
    widen_sidebar(page)

    # The run logged by the notebook cell shows up under its experiment.
    experiments = section(page, "experiments")
    demo = experiments.locator(".jp-mlops-item", has_text="sidebar-demo")
    demo.wait_for(timeout=30_000)
    assert demo.locator(".jp-mlops-item-count").text_content() == "1 run"
    demo.click()
    wait_for_names(page, ["rf-ui"])
    assert "1 run in sidebar-demo" in experiments.locator(".jp-mlops-runs-summary").inner_text()
    experiments.locator(".jp-mlops-runs-summary .jp-mlops-link", has_text="show all").click()
    wait_for_names(page, ["rf-ui", "gbm-0", "gbm-1", "gbm-2", XSS_NAME])

    # A run named like HTML is text: no element, no alert, no script.
    xss = run_rows(page).filter(has_text="onerror")
    assert xss.locator(".jp-mlops-run-name").text_content() == XSS_NAME
    assert page.locator(f'{SIDEBAR} img[src="x"]').count() == 0

    # Filter, then a bad filter: the server's message shows inline, the rows stay.
    set_filter(page, "metrics.acc > 0.85 and params.model = 'gbm'")
    wait_for_names(page, ["gbm-2", XSS_NAME])
    set_filter(page, "metrics.acc >")
    error = experiments.locator(".jp-mlops-filter-error")
    error.wait_for(state="visible")
    assert "position 13" in error.text_content()
    assert experiments.locator(".jp-mlops-filter").get_attribute("aria-invalid") == "true"
    assert sorted(run_names(page)) == sorted(["gbm-2", XSS_NAME])
    set_filter(page, "")
    error.wait_for(state="hidden")
    wait_for_names(page, ["rf-ui", "gbm-0", "gbm-1", "gbm-2", XSS_NAME])

    # Sort by clicking the metric's header: descending, then ascending.
    header = experiments.locator('.jp-mlops-runs-sort[data-key="metrics.acc"]')
    header.click()
    page.wait_for_function(
        "sel => document.querySelector(sel)?.getAttribute('aria-sort') === 'descending'",
        arg=f'{SIDEBAR} .jp-mlops-runs-sort[data-key="metrics.acc"]',
    )
    page.wait_for_timeout(300)
    assert run_names(page)[0] == "rf-ui"  # acc 0.97
    header.click()
    page.wait_for_function(
        "sel => document.querySelector(sel)?.getAttribute('aria-sort') === 'ascending'",
        arg=f'{SIDEBAR} .jp-mlops-runs-sort[data-key="metrics.acc"]',
    )
    page.wait_for_timeout(300)
    assert run_names(page)[0] == "gbm-0"

    # Selecting runs draws a loss-over-step chart per metric and a param diff.
    run_rows(page).filter(has_text="rf-ui").click()
    run_rows(page).filter(has_text="gbm-1").click()
    compare = experiments.locator(".jp-mlops-compare")
    compare.locator("text=Comparing 2 runs").wait_for()
    loss = compare.locator('svg.jp-mlops-line-chart[aria-label="loss"]')
    loss.wait_for()
    assert loss.locator(".jp-mlops-chart-series").count() == 2
    assert loss.locator(".jp-mlops-chart-point").count() == 5 + 6
    diff = compare.locator(".jp-mlops-diff-table")
    assert "max_depth" in diff.inner_text() or "model" in diff.inner_text()
    page.screenshot(path=str(artifacts_dir / "sidebar-experiments-light.png"))

    set_theme(page, "JupyterLab Dark")
    compare.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "sidebar-experiments-dark.png"))
    assert dialogs == []
    assert page.evaluate("window.__xss") is None


# -- models -------------------------------------------------------------------------------------
def register_churn():
    """Model "churn": v1 (accuracy 0.80, alias production) and v2 (accuracy 0.90)."""
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    for accuracy in (0.80, 0.90):
        with mlops.start_run(experiment="registry"):
            mlops.log_metric("accuracy", accuracy)
            uri = mlops.log_model(LogisticRegression().fit(X, y))
        mlops.register_model(uri, "churn")
    mlops.set_alias("churn", "production", 1, reason="first release")


def promote_in_sidebar(page, version, alias, checks):
    form = section(page, "models").locator(".jp-mlops-promote")
    form.locator(".jp-mlops-promote-version").select_option(str(version))
    form.locator(".jp-mlops-promote-alias").fill(alias)
    form.locator(".jp-mlops-promote-checks").fill(checks)
    form.locator(".jp-mlops-promote-button").click()
    confirm = page.locator(".jp-Dialog")
    confirm.wait_for()
    return confirm


def test_promote_through_the_confirmation_dialog(
    lab_server, lab_store, lab_page, dialogs, artifacts_dir
):
    page = lab_page
    register_churn()
    open_sidebar(page)
    widen_sidebar(page, 520)
    models = section(page, "models")
    models.locator(".jp-mlops-model", has_text="churn").click()
    models.locator(".jp-mlops-versions tr[data-version='2']").wait_for()

    # Beside the checks: the chosen version's recorded metrics, and what needs data.
    form = models.locator(".jp-mlops-promote")
    form.locator(".jp-mlops-promote-version").select_option("2")
    chip = form.locator(".jp-mlops-promote-metric[data-metric='accuracy']")
    assert chip.text_content() == "accuracy 0.9"
    assert "need the data" in form.locator("p.jp-mlops-promote-note").text_content()
    chip.click()
    assert form.locator(".jp-mlops-promote-checks").input_value() == "accuracy >= current"
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "sidebar-promote-form-light.png"))

    # Refused: the gate's report is shown, the alias stays.
    confirm = promote_in_sidebar(page, 2, "production", "accuracy >= 0.95")
    assert "moves from version 1 to version 2" in confirm.inner_text()
    assert "accuracy >= 0.95" in confirm.inner_text()
    confirm.locator("button", has_text="Promote").click()
    result = page.locator(".jp-Dialog", has_text="Promotion refused by the gate")
    result.wait_for()
    assert "✗ accuracy >= 0.95" in result.inner_text().replace("\n", " ").replace("\t", " ")
    page.screenshot(path=str(artifacts_dir / "sidebar-promote-refused.png"))
    result.locator("button", has_text="Close").click()
    result.wait_for(state="detached")

    # Passed: the alias moves, the history says so.
    confirm = promote_in_sidebar(page, 2, "production", "accuracy >= current")
    confirm.locator("button", has_text="Promote").click()
    result = page.locator(".jp-Dialog", has_text="Promoted")
    result.wait_for()
    assert "passed: churn v2 is now “production”" in result.inner_text()
    result.locator("button", has_text="Close").click()
    chip = models.locator(".jp-mlops-model .jp-mlops-chip", has_text="production → v2")
    chip.wait_for()
    history = models.locator(".jp-mlops-history li").first
    assert "v1 → v2" in history.inner_text()
    assert mlops.alias_holder("churn", "production") == 2
    page.screenshot(path=str(artifacts_dir / "sidebar-models-light.png"))
    assert dialogs == []


# -- deployments ---------------------------------------------------------------------------------
def test_a_versions_stored_evaluation_shows_in_the_versions_table(
    lab_server, lab_store, lab_page, artifacts_dir
):
    """An evaluation of ``models:/churn/2`` is stored with v2; the table shows its headline."""
    page = lab_page
    register_churn()
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]] * 5), np.array([0, 0, 1, 1] * 5)
    mlops.evaluate("models:/churn/2", X, y, name="holdout <b>")
    open_sidebar(page)
    models = section(page, "models")
    models.locator(".jp-mlops-model", has_text="churn").click()
    row = models.locator(".jp-mlops-versions tr[data-version='2']")
    row.wait_for()
    cells = row.locator("td")
    evaluated = [cells.nth(i).inner_text() for i in range(cells.count())]
    assert "f1 1 (holdout <b>)" in evaluated  # the name as text, never as markup
    title = row.locator("td", has_text="holdout").get_attribute("title")
    assert "holdout <b>: binary, 20 rows" in title and "accuracy 1" in title
    assert "—" in models.locator(".jp-mlops-versions tr[data-version='1']").inner_text()
    page.screenshot(path=str(artifacts_dir / "sidebar-evaluation-light.png"))
    set_theme(page, "JupyterLab Dark")
    page.screenshot(path=str(artifacts_dir / "sidebar-evaluation-dark.png"))


def test_deployment_status_shows_and_stops(lab_server, lab_store, lab_page, artifacts_dir):
    from jupyter_mlops.serving import deploy

    page = lab_page
    register_churn()
    deployment = deploy.deploy("models:/churn@production", name="churn-api")
    try:
        for value in (0.5, 2.5, 3.0):
            request = urllib.request.Request(
                f"{deployment.url}/invocations",
                data=json.dumps({"inputs": [[value]]}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        open_sidebar(page)
        item = section(page, "deployments").locator('[data-deployment="churn-api"]')
        item.wait_for(timeout=30_000)
        item.locator(".jp-mlops-health-running").wait_for(timeout=30_000)
        page.wait_for_function(
            "el => el.textContent === '3'",
            arg=item.locator(".jp-mlops-fact-requests").element_handle(),
            timeout=30_000,
        )
        assert item.locator(".jp-mlops-fact-version").text_content() == "v1"
        assert item.locator(".jp-mlops-fact-p95").text_content().endswith(" ms")
        item.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "sidebar-deployments-light.png"))

        item.locator(".jp-mlops-stop").click()
        page.locator(".jp-Dialog button", has_text="Stop").click()
        item.locator(".jp-mlops-health-stopped").wait_for(timeout=30_000)
        assert deploy.get_deployment("churn-api").status == "stopped"
        # Stopped, it still says what it served.
        assert item.locator(".jp-mlops-fact-requests").text_content() == "3"
        page.screenshot(path=str(artifacts_dir / "sidebar-deployments-stopped-light.png"))
    finally:
        deploy.undeploy("churn-api")


# -- drift -------------------------------------------------------------------------------------
def test_drift_chart_and_windows_render(lab_server, lab_store, lab_page, artifacts_dir):
    page = lab_page
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "age": rng.normal(40, 5, 500),
            "income": rng.normal(3000, 400, 500),
            "city": rng.choice(["paris", "lyon", "nice"], 500),
            XSS_NAME: rng.normal(0, 1, 500),
        }
    )
    shifted = reference.assign(age=reference["age"] + 8, income=reference["income"] * 1.3)
    mlops.detect_drift(reference, shifted).save("nightly")
    for hour, current in enumerate([reference, reference, shifted, shifted]):
        window = dataclasses.replace(
            mlops.detect_drift(reference, current),
            window_start=f"2025-03-01T{10 + hour:02d}:00:00+00:00",
            window_end=f"2025-03-01T{11 + hour:02d}:00:00+00:00",
        )
        window.save("churn-api")

    open_sidebar(page)
    widen_sidebar(page, 520)
    drift = section(page, "drift")
    bars = drift.locator(".jp-mlops-drift-bars")
    bars.wait_for(timeout=30_000)
    drift.locator(".jp-mlops-report", has_text="nightly").first.click()
    page.wait_for_timeout(300)
    assert "nightly: dataset drift" in drift.locator(".jp-mlops-drift-columns h4").inner_text()
    assert bars.locator(".jp-mlops-drift-row").count() == 4
    assert bars.locator(".jp-mlops-drifted").count() == 2
    assert bars.locator(".jp-mlops-drift-bar").count() == 4
    labels = bars.locator(".jp-mlops-drift-label").all_text_contents()
    assert "<img src=x oner…" in labels
    over_time = drift.locator('.jp-mlops-drift-time[data-series="churn-api"] svg')
    assert over_time.locator(".jp-mlops-chart-point").count() == 4
    assert over_time.locator(".jp-mlops-chart-alert").count() == 2
    drift.scroll_into_view_if_needed()
    drift.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(artifacts_dir / "sidebar-drift-light.png"))
    set_theme(page, "JupyterLab Dark")
    drift.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(artifacts_dir / "sidebar-drift-dark.png"))


# -- export ----------------------------------------------------------------------------------------
def test_export_to_pipeline_from_the_notebook_toolbar(lab_server, lab_store, lab_page):
    page = lab_page
    write_notebook(
        lab_server.root_dir / "train.ipynb",
        [
            nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["block:load"]}),
            nbformat.v4.new_code_cell("y = x * 3", metadata={"tags": ["block:train"]}),
        ],
    )
    page.goto(lab_server.page_url("lab/tree/train.ipynb"), wait_until="domcontentloaded")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    button = page.locator(
        ".jp-NotebookPanel-toolbar .jp-ToolbarButtonComponent", has_text="Export to pipeline"
    )
    button.wait_for(timeout=60_000)

    button.click()
    chooser = page.locator(".jp-Dialog", has_text="Export to pipeline")
    chooser.locator(".jp-mlops-export-target").select_option("python")
    chooser.locator("button", has_text="Export").click()
    result = page.locator(".jp-Dialog", has_text="Exported")
    result.wait_for(timeout=60_000)
    files = result.locator(".jp-mlops-export-files a").all_text_contents()
    assert files and all(f.startswith("train_python/") for f in files)
    for name in files:
        assert (lab_server.root_dir / name).is_file(), name
    assert "exported train.ipynb" in result.inner_text()
    result.locator(".jp-mlops-export-files a").first.click()  # opens the file in JupyterLab
    result.locator("button", has_text="Close").click()
    opened = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=Path(files[0]).name)
    opened.wait_for(timeout=30_000)

    # Palette commands open each section of the side bar.
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette-input")
    palette.fill("Export Notebook to Pipeline")
    page.locator(".lm-CommandPalette-item", has_text="Export Notebook to Pipeline").wait_for()
    palette.fill("Show MLOps Drift")
    palette.press("Enter")
    page.locator(SIDEBAR).wait_for(state="visible")
    toggle = section(page, "drift").locator(".jp-mlops-section-toggle")
    page.wait_for_function("el => document.activeElement === el", arg=toggle.element_handle())


def test_settings_schema_is_served_for_the_settings_editor(lab_server):
    request = urllib.request.Request(
        f"{lab_server.url}lab/api/settings/jupyter-mlops:plugin",
        headers={"Authorization": f"token {lab_server.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        settings = json.load(response)

    interval = settings["schema"]["properties"]["refreshInterval"]
    assert interval["default"] == 10 and interval["minimum"] == 1
    toolbar = settings["schema"]["jupyter.lab.toolbars"]["Notebook"]
    assert toolbar[0]["command"] == "jupyter-mlops:export-pipeline"
