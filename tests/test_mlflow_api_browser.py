"""What MLflow's own client logs through Jupyter's mount, seen in the side bar and on the run page.

A real JupyterLab in a real Chromium (marker ``browser``): the stock ``mlflow`` client in its own
venv logs to ``<lab>/jupyter-mlops/mlflow`` with the lab's token, as a training script would;
then the side bar lists its runs and its registered model, and the run page shows the params,
the loss curve, the child run and the files. Screenshots (light and dark) go to
``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from tests.test_mlflow_api import client_env, run_client
from tests.test_sidebar_browser import open_sidebar, section, set_theme

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]


def test_what_the_mlflow_client_logs_reads_in_the_side_bar_and_run_page(
    lab_server, lab_store, lab_page, mlflow_python, artifacts_dir
):
    page = lab_page
    env = client_env(f"{lab_server.url}jupyter-mlops/mlflow", lab_server.token)
    logged = run_client(mlflow_python, env, "lifecycle", "fraud", "fraud-lr")

    sidebar = open_sidebar(page)
    experiments = section(page, "experiments")
    rows = experiments.locator(".jp-mlops-run-row[data-run-id]")
    rows.first.wait_for(timeout=30_000)
    names = rows.locator(".jp-mlops-run-name").all_text_contents()
    assert sorted(names) == ["lr-c1", "lr-c2"], names  # the child folds under lr-c1
    models = section(page, "models")
    model = models.locator(".jp-mlops-model", has_text="fraud-lr")
    model.locator(".jp-mlops-chip", has_text="champion → v1").wait_for()
    model.click()
    models.locator(".jp-mlops-versions tr[data-version='2']").wait_for()
    recorded = models.locator('[aria-label="Metrics the gate can check"]')
    accuracy = recorded.locator('[data-metric="accuracy"]')  # the run's metrics, for the gate
    accuracy.wait_for()
    assert accuracy.inner_text() == "accuracy 0.97"
    page.screenshot(path=str(artifacts_dir / "sidebar-mlflow-client-light.png"))

    rows.filter(has_text="lr-c1").locator(".jp-mlops-run-name").click()
    run_page = page.locator(f"#jupyter-mlops-run-{logged['run_id']}")
    run_page.locator(".jp-mlops-run-title").wait_for(timeout=30_000)
    assert run_page.locator(".jp-mlops-run-title").text_content() == "lr-c1"
    params = run_page.locator('[data-section="params"]').inner_text()
    assert "solver" in params and "lbfgs" in params
    assert run_page.locator('[data-section="charts"] svg.jp-mlops-line-chart').count() == 1  # loss
    children = run_page.locator('[data-section="children"] .jp-mlops-run-link')
    assert children.all_text_contents() == ["child"]
    artifacts = run_page.locator('[data-section="artifacts"]')
    assert "hello from mlflow" in artifacts.inner_text()  # notes/readme.txt, previewed
    assert "model/MLmodel" in artifacts.inner_text()
    assert sidebar.bounding_box()["width"] < 400  # all of it at the side bar's default width
    page.screenshot(path=str(artifacts_dir / "run-page-mlflow-client-light.png"))
    set_theme(page, "JupyterLab Dark")
    page.screenshot(path=str(artifacts_dir / "run-page-mlflow-client-dark.png"))
