"""The MLOps side bar in a real JupyterLab, in a real Chromium."""

import time
import uuid

import pytest

from jupyter_mlops.store import get_store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SIDEBAR = "#jupyter-mlops-sidebar"


def seed_experiments(store_dir):
    """Two experiments, the first with two runs, written as a kernel would."""
    store = get_store(str(store_dir))
    churn = store.get_or_create_experiment("churn-baseline")
    store.get_or_create_experiment("fraud-xgboost")
    now = int(time.time() * 1000)
    for name in ("rf-1", "rf-2"):
        store.create_run(
            {
                "run_id": uuid.uuid4().hex,
                "run_name": name,
                "experiment_id": churn["experiment_id"],
                "status": "FINISHED",
                "start_time": now,
                "end_time": now,
                "parent_run_id": None,
                "params": {},
                "metrics": {},
                "tags": {},
                "datasets": [],
                "artifacts": {},
            }
        )


def test_sidebar_lists_sections_and_experiments(lab_server, lab_page, artifacts_dir):
    seed_experiments(lab_server.store_dir)
    tab = lab_page.locator('.jp-SideBar [data-id="jupyter-mlops-sidebar"]')
    assert tab.get_attribute("title") == "MLOps"

    tab.click()

    panel = lab_page.locator(SIDEBAR)
    panel.wait_for(state="visible")
    assert panel.locator(".jp-mlops-title").text_content() == "MLOps"
    headings = panel.locator(".jp-mlops-section-title").all_inner_texts()
    assert [h.strip().lower() for h in headings] == [
        "experiments",
        "models",
        "deployments",
        "drift",
        "sweeps",
    ]
    experiments = panel.locator('[data-section="experiments"] .jp-mlops-item')
    experiments.first.wait_for()
    assert experiments.all_inner_texts() == ["churn-baseline\n2 runs", "fraud-xgboost\n0 runs"]
    lab_page.screenshot(path=str(artifacts_dir / "lab-sidebar.png"))


@pytest.mark.parametrize(
    "lab_server_config", [{"ServerApp": {"jpserver_extensions": {"jupyter_mlops": False}}}]
)
def test_sidebar_says_how_to_enable_a_disabled_server_extension(lab_page):
    lab_page.locator('.jp-SideBar [data-id="jupyter-mlops-sidebar"]').click()

    error = lab_page.locator(f'{SIDEBAR} [data-section="experiments"] .jp-mlops-error')
    error.wait_for()
    assert error.text_content() == (
        "the jupyter_mlops server extension is not enabled — run: "
        "jupyter server extension enable jupyter_mlops"
    )
