"""monitor and log_labels over a real deployment's prediction log, and over stored records."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.entities import DeploymentDoc
from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.monitoring import labels as labels_module
from jupyter_mlops.monitoring.labels import log_labels, parse_duration, prediction_log
from jupyter_mlops.monitoring.windows import TABLE, list_drift_windows, monitor
from jupyter_mlops.serving.deploy import deploy, undeploy
from jupyter_mlops.store import get_store, set_tracking_uri
from jupyter_mlops.tracking import context
from jupyter_mlops.tracking.session import session

WINDOW = "4s"
MIN_ROWS = 10
SHIFT = 2.5
HOUR_MS = 3_600_000
OLD = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS  # 2023-11-14 22:00 UTC


@dataclass(frozen=True)
class Live:
    folder: str
    X: pd.DataFrame
    y: pd.Series
    phase1: pd.DataFrame
    phase2: pd.DataFrame
    start_ms: int
    boundary_ms: int


def _use(folder: str, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", folder)
    set_tracking_uri(folder)
    session().experiment = None


def _send(url: str, rows: pd.DataFrame, per_request: int = 3) -> None:
    for start in range(0, len(rows), per_request):
        split = rows.iloc[start : start + per_request].to_dict(orient="split", index=False)
        body = json.dumps({"dataframe_split": split}).encode()
        request = urllib.request.Request(
            url + "/invocations", body, {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).read()


def _wait_for_log(deployment: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(get_store().read_records(f"predictions/{deployment}")[0]) < count:
        assert time.monotonic() < deadline, "the server writes its log every second"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One real deployment of an iris model: 45 rows like the reference, then 45 shifted ones.

    The second phase starts on a new window, so the two phases never share one.
    """
    folder = str(tmp_path_factory.mktemp("monitor") / "store")
    with pytest.MonkeyPatch.context() as mp:
        _use(folder, mp)
        X, y = load_iris(return_X_y=True, as_frame=True)
        model = LogisticRegression(max_iter=500).fit(X, y)
        mlops.register_model(model, "iris", reference_data=X)
        mlops.set_alias("iris", "production", 1)
        url = deploy("models:/iris@production", name="iris-live").url
        try:
            phase1 = X.sample(45, random_state=1)
            phase2 = X.sample(45, random_state=2) + SHIFT
            start_ms = int(time.time() * 1000)
            _send(url, phase1)
            window_ms = parse_duration(WINDOW)
            boundary_ms = (int(time.time() * 1000) // window_ms + 1) * window_ms
            time.sleep(max(0.0, boundary_ms / 1000 - time.time()) + 0.05)
            _send(url, phase2)
            _wait_for_log("iris-live", 90)
            yield Live(folder, X, y, phase1, phase2, start_ms, boundary_ms)
        finally:
            undeploy("iris-live")
            context.wait_for_captures(60)
            session().flush()
            set_tracking_uri(None)


@pytest.fixture
def at_live(live, monkeypatch):
    """The live deployment's store, for this test."""
    _use(live.folder, monkeypatch)
    yield live
    set_tracking_uri(None)


def _phase2(result, live) -> pd.DataFrame:
    starts = result.windows["window_start"].map(lambda t: t.value // 1_000_000)
    return result.windows[starts >= live.boundary_ms]


# -- a real deployment ----------------------------------------------------------------------------
def test_windows_of_a_real_prediction_log(at_live):
    result = monitor("iris-live", WINDOW, since=at_live.start_ms, min_rows=MIN_ROWS, save=False)
    windows = result.windows
    assert windows["rows"].sum() == 90
    assert set(windows["version"]) == {1}
    before = windows[~windows.index.isin(_phase2(result, at_live).index)]
    tested_before = before[before["status"] == "ok"]
    assert len(tested_before) >= 1 and not tested_before["dataset_drift"].any()
    after = _phase2(result, at_live)
    tested_after = after[after["status"] == "ok"]
    assert len(tested_after) >= 1
    assert tested_after["alert"].all() and tested_after["dataset_drift"].all()
    assert tested_after["prediction_drift"].all()
    assert set(tested_after["prediction_method"]) <= {"chisquare", "z"}
    assert all("dataset drift: 4 of 4 columns" in r for r in tested_after["alert_reason"])
    assert result.alerts and result.alerts[-1].report.window_start is not None
    assert "alert(s)" in result.summary()


def test_labels_give_per_window_metrics(at_live):
    log = prediction_log("iris-live", since=at_live.start_ms)
    assert list(log.columns[:6]) == ["ts", "request_id", "row", "version", "prediction", "y_true"]
    assert log["row"].tolist()[:6] == [0, 1, 2, 0, 1, 2]  # three rows per request
    sent = pd.concat([at_live.phase1, at_live.phase2])
    assert log["petal length (cm)"].tolist() == pytest.approx(sent["petal length (cm)"].tolist())
    y_true = at_live.y.loc[sent.index].tolist()  # one client, so the log's order is ours
    assert log_labels("iris-live", log["request_id"], y_true) == 90
    assert prediction_log("iris-live", since=at_live.start_ms)["y_true"].tolist() == y_true

    result = monitor("iris-live", WINDOW, since=at_live.start_ms, min_rows=MIN_ROWS, save=False)
    windows = result.windows
    assert (windows["labelled"] == windows["rows"]).all()
    assert {"metrics.accuracy", "metrics.f1", "metrics.roc_auc"} <= set(windows.columns)
    after = _phase2(result, at_live)
    before = windows.drop(after.index)
    assert before["metrics.accuracy"].min() >= 0.85
    assert after["metrics.accuracy"].max() < before["metrics.accuracy"].min()


def test_each_window_is_stored_once_and_announced_once(at_live):
    seen = []
    first = monitor(
        "iris-live", "3s", since=at_live.start_ms, min_rows=MIN_ROWS, on_alert=seen.append
    )
    stored = dict(get_store().documents(TABLE))
    assert len(seen) == len(first.alerts) >= 1
    assert all(w.alert for w in seen)
    again = monitor(
        "iris-live", "3s", since=at_live.start_ms, min_rows=MIN_ROWS, on_alert=seen.append
    )
    assert len(seen) == len(first.alerts), "an alert is announced once per window"
    assert dict(get_store().documents(TABLE)).keys() == stored.keys()
    assert len(again.windows) == len(first.windows)
    listed = list_drift_windows("iris-live", "3s")
    assert len(listed) == len(first.windows)
    assert listed["alert"].tolist() == first.windows["alert"].tolist()
    assert listed["window_start"].tolist() == first.windows["window_start"].tolist()


def test_the_rest_drift_route_shows_the_stored_windows(at_live):
    from jupyter_mlops.jupyter import server_routes

    result = monitor("iris-live", "3s", since=at_live.start_ms, min_rows=MIN_ROWS)
    series = {s["name"]: s for s in server_routes.drift(None)["windows"]}
    windows = series["iris-live (3s)"]["windows"]
    assert len(windows) == len(result.windows)
    assert [w["alert"] for w in windows] == result.windows["alert"].tolist()
    assert all(w["window_start"] and 0 <= (w["drift_share"] or 0) <= 1 for w in windows)
    json.dumps(windows)  # the sidebar gets plain JSON


def test_a_reference_can_be_given(at_live):
    shifted = at_live.X + SHIFT
    result = monitor(
        "iris-live", WINDOW, reference=shifted, since=at_live.start_ms, min_rows=MIN_ROWS,
        save=False,
    )  # fmt: skip
    tested = result.windows[result.windows["status"] == "ok"]
    after = _phase2(result, at_live).index
    assert tested.loc[~tested.index.isin(after), "dataset_drift"].all()
    assert not tested.loc[tested.index.isin(after), "dataset_drift"].any()
    by_uri = monitor(
        "iris-live", WINDOW, reference="models:/iris/1", since=at_live.start_ms, save=False
    )
    assert by_uri.windows["rows"].sum() == 90
    with pytest.raises(InvalidInput, match="reference must be a DataFrame or a model URI"):
        monitor("iris-live", reference=42)


def test_columns_method_and_threshold_reach_each_window(at_live):
    result = monitor(
        "iris-live", WINDOW, columns=["petal length (cm)"], method="psi", threshold=0.5,
        since=at_live.start_ms, min_rows=MIN_ROWS, save=False,
    )  # fmt: skip
    report = next(w.report for w in result.results if w.report is not None)
    assert report.columns["column"].tolist() == ["petal length (cm)"]
    assert report.columns["method"].tolist() == ["psi"]
    assert report.columns["threshold"].tolist() == [0.5]
    with pytest.raises(InvalidInput, match="Columns in neither frame: nope"):
        monitor("iris-live", WINDOW, columns=["nope"], since=at_live.start_ms, save=False)
    with pytest.raises(InvalidInput, match="Unknown drift method 'nope'"):
        monitor("iris-live", method="nope")


# -- stored records -------------------------------------------------------------------------------
def _fake_deployment(name: str, model_uri: str, records: list[dict]) -> None:
    """A deployment record and a prediction log written as a server writes them."""
    doc = DeploymentDoc(name, model_uri, version=1, url="http://127.0.0.1:1", start_time=OLD,
                        state="stopped")  # fmt: skip
    get_store().record_deployment(doc)
    get_store().append_records(f"predictions/{name}", records)


def _records(rows: pd.DataFrame, start_ms: int, version=1, prefix="r") -> list[dict]:
    return [
        {"ts": start_ms + i, "request_id": f"{prefix}{i}", "version": version, "inputs": row,
         "prediction": 0}
        for i, row in enumerate(rows.to_dict(orient="records"))
    ]  # fmt: skip


def test_no_traffic_yet_is_an_empty_result(at_live):
    _fake_deployment("quiet", "models:/iris/1", [])
    result = monitor("quiet")
    assert result.windows.empty and not result.alerts and result.results == ()
    assert "No predictions logged for deployment 'quiet' yet" in result.message
    assert "window_start" in result.windows.columns
    future = monitor("iris-live", since=pd.Timestamp.now("UTC") + pd.Timedelta("1h"))
    assert future.windows.empty and "since" in future.message


def test_windows_with_too_few_rows_are_not_tested(at_live):
    _fake_deployment("sparse", "models:/iris@production", _records(at_live.X.head(12), OLD))
    result = monitor("sparse", "1h")
    row = result.windows.iloc[0]
    assert row["status"] == "too few rows (12 < 30)" and row["rows"] == 12
    assert pd.isna(row["dataset_drift"]) and not row["alert"]
    assert monitor("sparse", "1h", min_rows=12).windows.iloc[0]["status"] == "ok"


def test_a_version_without_reference_says_how_to_fix_it(at_live):
    other = LogisticRegression(max_iter=200).fit(at_live.X, at_live.y)
    assert mlops.register_model(other, "iris").version == 2
    rows = _records(at_live.X.head(40), OLD, version=2)
    _fake_deployment("no-ref", "models:/iris@production", rows)
    with pytest.raises(NotFound, match=r"served models:/iris/2, which was stored without a ref"):
        monitor("no-ref", "1h")
    with pytest.raises(NotFound, match=r"register_model\(model, 'iris', reference_data=X_train\)"):
        monitor("no-ref", "1h")
    assert monitor("no-ref", "1h", reference=at_live.X).windows.iloc[0]["status"] == "ok"


def test_windows_split_by_served_version(at_live):
    rows = _records(at_live.X.head(40), OLD, version=1)
    rows += _records(at_live.X.tail(40), OLD + 10, version=2, prefix="s")
    _fake_deployment("moved", "models:/iris@production", rows)
    result = monitor("moved", "1h", reference="models:/iris/1")
    assert result.windows["version"].tolist() == [1, 2]
    assert result.windows["window_start"].nunique() == 1


def test_unknown_deployment_lists_the_known_ones(at_live):
    with pytest.raises(NotFound, match=r"No deployment named 'ghost' \(deployments: .*iris-live"):
        monitor("ghost")
    with pytest.raises(NotFound, match="No deployment named 'ghost'"):
        prediction_log("ghost")
    with pytest.raises(NotFound, match="No deployment named 'ghost'"):
        log_labels("ghost", ["a"], [1])


@pytest.mark.parametrize("window", ["5 parsecs", "", "h", "1.5.m", 5, None, "0m"])
def test_bad_window_says_the_format(at_live, window):
    with pytest.raises(InvalidInput, match=r"e\.g\. '15m', '1h' or '1d'|longer than zero"):
        monitor("iris-live", window)


def test_the_package_names_the_functions():
    import jupyter_mlops.monitoring.windows  # noqa: F401 - a submodule must not shadow them
    from jupyter_mlops import monitoring

    assert monitoring.monitor is monitor and callable(monitoring.log_labels)
    assert monitoring.list_drift_windows is list_drift_windows


def test_window_lengths_and_times():
    assert parse_duration("15m") == 900_000
    assert parse_duration("1h") == parse_duration(pd.Timedelta("60min")) == HOUR_MS
    assert parse_duration("1d") == 24 * HOUR_MS and parse_duration("30s") == 30_000
    assert labels_module.parse_time("2023-11-14T22:00:00Z") == OLD
    assert labels_module.parse_time(pd.Timestamp(OLD, unit="ms")) == OLD
    assert abs(labels_module.parse_time("1h") - (time.time() * 1000 - HOUR_MS)) < 60_000
    with pytest.raises(InvalidInput, match="Cannot read 'yesterday' as a time"):
        labels_module.parse_time("yesterday")


def test_label_mistakes(at_live):
    _fake_deployment("labelled", "models:/iris/1", _records(at_live.X.head(3), OLD))
    with pytest.raises(InvalidInput, match="2 ids but 1 values"):
        log_labels("labelled", ["r0", "r1"], [1])
    with pytest.raises(InvalidInput, match=r"1 label\(s\) match no logged prediction.*nope#0"):
        log_labels("labelled", ["r0", "nope"], [1, 2])
    with pytest.raises(InvalidInput, match=r"r0#1"):  # request r0 has one row
        log_labels("labelled", ["r0", "r0"], [1, 2])
    with pytest.raises(InvalidInput, match="missing values"):
        log_labels("labelled", ["r0"], [None])
    with pytest.raises(InvalidInput, match="got no ids"):
        log_labels("labelled", [], [])
    assert log_labels("labelled", ["r1"], [1]) == 1
    assert log_labels("labelled", ["r1"], [2]) == 1  # a later label replaces an earlier one
    log = prediction_log("labelled")
    assert log["y_true"].tolist()[:2] == [None, 2] or pd.isna(log["y_true"].iloc[0])
    assert log["y_true"].iloc[1] == 2


def test_inputs_named_like_log_fields_keep_their_values(at_live):
    records = [{"ts": OLD, "request_id": "x", "version": 1,
                "inputs": {"prediction": 7, "a": 1}, "prediction": 0}]  # fmt: skip
    _fake_deployment("clash", "models:/iris/1", records)
    log = prediction_log("clash", labels=False)
    assert log.loc[0, "prediction"] == 0 and log.loc[0, "input.prediction"] == 7
    assert log.loc[0, "a"] == 1 and log.loc[0, "ts"] == pd.Timestamp(OLD, unit="ms", tz="UTC")
