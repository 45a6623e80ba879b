"""The drift panels, ``%mlops_drift``, and the drift example notebook run in a real kernel."""

from __future__ import annotations

import html
import os
import shutil

import nbformat
import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from nbclient import NotebookClient
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.entities import DeploymentDoc
from jupyter_mlops.jupyter.panels_drift import DriftPanel, MonitorPanel
from jupyter_mlops.monitoring import detect_drift, monitor
from jupyter_mlops.store import get_store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDGET = "application/vnd.jupyter.widget-view+json"
XSS = "<img src=x onerror=alert(1)>"
PNG = '<svg class="jp-mlops-svg"'  # charts are themed inline SVG (JupyterLab's colours)
HOUR_MS = 3_600_000
OLD = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {"age": rng.normal(40, 10, 300), XSS: rng.normal(0, 1, 300),
         "city": rng.choice(list("abc"), 300)}
    )  # fmt: skip
    cur = pd.DataFrame(
        {"age": rng.normal(50, 10, 200), XSS: rng.normal(0, 1, 200),
         "city": rng.choice(list("abc"), 200, p=[0.7, 0.2, 0.1])}
    )  # fmt: skip
    return ref, cur


@pytest.fixture
def deployment(shell, frames):
    """A deployment record and a prediction log: a calm hour, a shifted one, a quiet one."""
    ref, cur = frames
    X = ref[["age", XSS]]
    y = (ref["age"] > 40).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    mlops.register_model(model, "ages", reference_data=X)
    records = []
    for hour, rows in enumerate([X.head(60), cur[["age", XSS]].head(60), X.tail(5)]):
        predictions = model.predict(rows).tolist()
        for i, (row, p) in enumerate(zip(rows.to_dict("records"), predictions, strict=True)):
            records.append({"ts": OLD + hour * HOUR_MS + i, "request_id": f"{hour}-{i}",
                            "version": 1, "inputs": row, "prediction": p})  # fmt: skip
    doc = DeploymentDoc("ages-live", "models:/ages/1", version=1, url="http://127.0.0.1:1",
                        start_time=OLD, state="stopped")  # fmt: skip
    get_store().record_deployment(doc)
    get_store().append_records("predictions/ages-live", records)
    return shell


def _is_png(value) -> bool:
    """A themed chart: SVG whose text colour is JupyterLab's variable."""
    return value.startswith(PNG) and "var(--jp-ui-font-color1" in value


def _png_count(page: str) -> int:
    return page.count(PNG)


# -- panels without a kernel ----------------------------------------------------------------------
def test_drift_panel_picker_table_and_static_fallback(frames):
    report = detect_drift(*frames, progress=False)
    panel = DriftPanel(report)
    assert [v for _, v in panel.column_picker.options] == ["age", XSS, "city"]
    assert panel.column_picker.value == report.drifted_columns[0] == "age"
    assert "age — drift" in [label for label, _ in panel.column_picker.options]
    first = panel.distribution_image.value
    assert _is_png(first)
    # One encoding with the side bar: bars of × threshold, the most drifted first and longest.
    bars = panel.scores_image.value
    assert bars.count('class="jp-mlops-bar ') + bars.count('class="jp-mlops-bar"') == 3
    from jupyter_mlops.monitoring.charts import severity

    rows = sorted(report.to_dict()["columns"], key=lambda r: -severity(r))
    positions = [bars.index(f'title="{html.escape(r["column"])}"') for r in rows]
    assert positions == sorted(positions) and "jp-mlops-bar-line" in bars  # longest first
    panel.column_picker.value = "city"
    assert _is_png(panel.distribution_image.value)
    assert panel.distribution_image.value != first

    page = panel.static_html()
    assert XSS not in page and html.escape(XSS) in page
    assert "Dataset drift" in page or "No dataset drift" in page
    assert f"of {report.n_tested} tested columns drifted" in page
    assert _png_count(page) >= 2 and "jp-mlops-bars" in page  # bars, chosen + drifted columns
    bundle = panel._repr_mimebundle_()
    assert WIDGET in bundle and PNG in bundle["text/html"]


def test_drift_panel_renders_untested_columns(frames):
    ref, cur = frames
    cur = cur.assign(only_current=1.0)
    report = detect_drift(ref.assign(constant=1), cur.assign(constant=1), progress=False)
    panel = DriftPanel(report)
    labels = dict((v, label) for label, v in panel.column_picker.options)
    assert labels["only_current"] == "only_current (not tested)"
    panel.column_picker.value = "only_current"
    assert _is_png(panel.distribution_image.value)
    assert "skipped: only in current" in panel.static_html()


def test_monitor_panel_alert_banner_windows_and_picker(deployment):
    result = monitor("ages-live", "1h")
    assert result.windows["status"].tolist()[2] == "too few rows (5 < 30)"
    panel = MonitorPanel(result)
    assert "Drift alert" in panel.banner_html.value
    assert html.escape(XSS) in panel.banner_html.value and XSS not in panel.banner_html.value
    assert _is_png(panel.over_time_image.value)
    assert len(panel.window_picker.options) == 2  # the quiet hour is not tested
    assert panel.window_picker.value == 1 and "(v1, 60 rows)" in panel.detail.title
    shifted = panel.detail.static_html()
    panel.window_picker.value = 0
    assert panel.detail.report is result.results[0].report
    assert panel.detail.static_html() != shifted

    page = panel.static_html()
    assert "Drift alert" in page and "too few rows (5 &lt; 30)" in page
    assert XSS not in page and _png_count(page) >= 2  # over time, the window's distribution
    assert PNG in panel._repr_mimebundle_()["text/html"]


def test_monitor_panel_without_traffic(deployment):
    result = monitor("ages-live", since=pd.Timestamp.now("UTC"))
    panel = MonitorPanel(result)
    assert panel.detail is None and "No predictions logged" in panel.static_html()


# -- the magic ------------------------------------------------------------------------------------
@pytest.fixture
def shown(monkeypatch):
    """What the magic displays."""
    found = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **_: found.append(obj))
    return found


def test_magic_two_samples(shell, frames, shown):
    shell.user_ns.update(ref=frames[0], cur=frames[1])
    shell.run_line_magic("mlops_drift", "ref cur -c age city --method psi --threshold 0.2")
    panel = shown[-1]
    assert isinstance(panel, DriftPanel)
    assert panel.report.columns["column"].tolist() == ["age", "city"]
    assert set(panel.report.columns["method"]) == {"psi"}
    assert set(panel.report.columns["threshold"]) == {0.2}
    assert "cur against ref" in panel.summary_html.value


def test_magic_deployment(deployment, shown):
    deployment.run_line_magic("mlops_drift", "--deployment ages-live --window 1h")
    panel = shown[-1]
    assert isinstance(panel, MonitorPanel) and panel.result.alerts
    assert len(get_store().documents("drift_windows")) == 3


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "Give two DataFrame variables"),
        ("ref", "Give two DataFrame variables"),
        ("ref nope", "No variable named 'nope'"),
        ("ref cur -c nope", "Columns in neither frame: nope"),
        ("ref cur --method nope", "Unknown drift method 'nope'"),
        ("ref cur --threshold high", "invalid float value"),
        ("ref text", "must be a pandas DataFrame"),
        ("ref cur --deployment ages-live", "not both"),
        ("--deployment ghost", "No deployment named 'ghost'"),
        ("--deployment ages-live --window 5parsecs", "e.g. '15m', '1h' or '1d'"),
        ("--deployment ages-live --since yesterday", "Cannot read 'yesterday' as a time"),
        ("--deployment ages-live --method nope", "Unknown drift method 'nope'"),
    ],
)
def test_magic_mistakes_are_one_line_usage_errors(deployment, frames, line, message):
    deployment.user_ns.update(ref=frames[0], cur=frames[1], text="not a frame")
    with pytest.raises(UsageError, match=message) as caught:
        deployment.run_line_magic("mlops_drift", line)
    assert "\n" not in str(caught.value)


def test_magic_help_has_examples(shell):
    doc = shell.find_line_magic("mlops_drift").__doc__
    assert "%mlops_drift train_df live_df" in doc and "--deployment churn-prod" in doc


# -- the example ----------------------------------------------------------------------------------
def run_example(name, folder):
    shutil.copy(os.path.join(ROOT, "examples", name), folder / name)
    nb = nbformat.read(folder / name, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()  # a cell's error fails the test
    return nb


def test_drift_example(store_dir, tmp_path):
    nb = run_example("drift.ipynb", tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    panels = [o["data"] for o in outputs if WIDGET in o.get("data", {})]
    assert len(panels) >= 2
    two_samples, over_time = panels[0]["text/html"], panels[-1]["text/html"]
    assert "Dataset drift" in two_samples and PNG in two_samples
    assert "Drift alert" in over_time and "Drift of cancer-live over time" in over_time
    assert _png_count(over_time) >= 3
    text = "".join(o.get("text", "") for o in outputs)
    assert "ALERT" in text and "stopped cancer-live" in text
    windows = mlops.monitoring.list_drift_windows("cancer-live")
    assert windows["alert"].any() and not windows["alert"].all()
    assert windows["metrics.accuracy"].notna().all()
    assert mlops.get_deployment("cancer-live").status == "stopped"
    # The two-sample report is kept for the side bar; the model has a name of its own.
    assert [r.name for r in mlops.monitoring.list_drift_reports()].count("current vs reference")
    assert mlops.alias_holder("cancer-monitor", "production") == 1

    # Any order, any number of times: the registry example after it, then this one again.
    registry = run_example("registry.ipynb", tmp_path)
    assert "cancer v2 promoted to @production" in "".join(
        o.get("text", "") for c in registry.cells for o in c.get("outputs", [])
    )
    run_example("drift.ipynb", tmp_path)
    assert mlops.alias_holder("cancer-monitor", "production") == 2


def test_example_is_committed_without_outputs():
    nb = nbformat.read(os.path.join(ROOT, "examples", "drift.ipynb"), as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_a_column_with_p_1_reads_zero_not_minus_zero():
    from jupyter_mlops.jupyter.panels_drift import drift_bars
    from jupyter_mlops.monitoring.charts import severity

    row = {"column": "plan", "p_value": 1.0, "threshold": 0.05, "statistic": 0.0}
    assert str(severity(row)) == "0.0"
    ref = pd.DataFrame({"plan": ["a", "b"] * 200})
    assert "-0×" not in drift_bars(detect_drift(ref, ref.copy(), progress=False))
