"""Model servers as real processes on loopback, called with a real HTTP client."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import jupyter_mlops as mlops
from jupyter_mlops.errors import Conflict, MlopsError, NotFound
from jupyter_mlops.serving.deploy import deploy, get_deployment, list_deployments, undeploy
from jupyter_mlops.store import set_tracking_uri


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store with two iris models, and a deployment following ``iris@production``."""
    folder = str(tmp_path_factory.mktemp("serving") / "store")
    set_tracking_uri(folder)
    os.environ["JUPYTER_MLOPS_STORE"] = folder
    X, y = load_iris(return_X_y=True, as_frame=True)
    good = LogisticRegression(max_iter=1000).fit(X, y)
    stump = DecisionTreeClassifier(max_depth=1).fit(X, y)
    mlops.register_model(good, "iris", input_example=X.head(), reference_data=X)
    mlops.register_model(stump, "iris", input_example=X.head())
    mlops.set_alias("iris", "production", 1)
    dep = deploy("models:/iris@production")
    yield {"X": X, "good": good, "stump": stump, "dep": dep, "store": folder}
    for d in list_deployments():
        undeploy(d.name)
    set_tracking_uri(None)
    os.environ.pop("JUPYTER_MLOPS_STORE", None)


IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def rows(data):
    """A ``dataframe_split`` body of iris rows (the model's signature names its columns)."""
    return {"dataframe_split": {"columns": IRIS, "data": data}}


def post(url, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/invocations", data, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return response.read().decode()


def test_every_payload_format_predicts_like_load_model(served):
    X, url = served["X"].iloc[[0, 60, 120]], served["dep"].url
    expected = mlops.load_model("models:/iris/1").predict(X).tolist()
    bodies = [
        {"dataframe_split": json.loads(X.to_json(orient="split", index=False))},
        {"dataframe_records": X.to_dict(orient="records")},
        {"instances": X.to_dict(orient="records")},
        {"inputs": X.to_dict(orient="records")},
        {"inputs": X.to_dict(orient="list")},
        X.to_csv().encode(),  # with its index: an extra column, ignored
        X.to_csv(index=False).encode(),
    ]
    for body in bodies:
        content_type = "text/csv; charset=utf-8" if isinstance(body, bytes) else "application/json"
        assert post(url, body, content_type) == (200, {"predictions": expected}), body


def test_columns_follow_mlflow_extra_ignored_missing_named_bare_rows_refused(served):
    X, url = served["X"].iloc[[0, 60, 120]], served["dep"].url
    expected = mlops.load_model("models:/iris/1").predict(X).tolist()
    extra = X.assign(note="ignored", **{"a b": 1.0})
    for body in (
        {"dataframe_split": json.loads(extra.to_json(orient="split", index=False))},
        {"dataframe_records": extra.to_dict(orient="records")},
    ):
        assert post(url, body) == (200, {"predictions": expected})
    for body in ({"instances": X.values.tolist()}, {"inputs": X.values.tolist()}):
        status, answer = post(url, body)
        assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "Model is missing inputs 'sepal length (cm)'" in answer["message"]
    status, answer = post(url, {"dataframe_records": X.drop(columns=IRIS[1]).to_dict("records")})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert answer["message"].startswith("Missing column(s): 'sepal width (cm)'.")


@pytest.mark.parametrize(
    "body, content_type, status, code, message",
    [
        (b"{not json", "application/json", 400, "BAD_REQUEST", "not valid JSON"),
        ({"columns": []}, "application/json", 400, "BAD_REQUEST", "exactly one of"),
        (
            {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]},
            "application/json",
            400,
            "BAD_REQUEST",
            "exactly one of",
        ),
        (
            {"dataframe_records": [{"sepal length (cm)": 1}]},
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "Missing column",
        ),
        (rows([["x", 2, 3, 4]]), "application/json", 400, "BAD_REQUEST", "numeric"),
        ({"instances": [[1, 2]]}, "application/json", 400, "INVALID_PARAMETER_VALUE", "missing"),
        ({"instances": []}, "application/json", 400, "INVALID_PARAMETER_VALUE", "no rows"),
        (b"a,b\n1,2\n1,2,3,4,5\n", "text/csv", 400, "BAD_REQUEST", "Cannot read the CSV body"),
        (b"\xff,\xfe\n1,2", "text/csv", 400, "BAD_REQUEST", "not UTF-8"),
        (",".join(IRIS).encode() + b"\ninf,1,1,1", "text/csv", 400, "BAD_REQUEST",
         "out of range"),
        (rows([[1, 2, 3, 4]]), "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"),
        (rows([[1, 2, 3, 4]]), "application/json; format=pandas-split", 415,
         "UNSUPPORTED_MEDIA_TYPE", "Unrecognized Content-Type parameter(s): format"),
        (rows([[1, 2, 3, 4]]), "application/json; charset=latin-1", 415,
         "UNSUPPORTED_MEDIA_TYPE", "only takes UTF-8"),
        (b"[" + b"1," * (11 << 20) + b"1]", "application/json", 413, "PAYLOAD_TOO_LARGE",
         "larger than"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_json_4xx_and_the_server_keeps_serving(
    served, body, content_type, status, code, message
):
    url = served["dep"].url
    got_status, got = post(url, body, content_type)
    assert (got_status, got["error_code"]) == (status, code) and message in got["message"], got
    assert post(url, rows([[5.1, 3.5, 1.4, 0.2]]))[0] == 200


def test_health_metadata_metrics_and_unknown_routes(served):
    url = served["dep"].url
    assert json.loads(get(url, "/health"))["status"] == "ok"
    assert get(url, "/version") == mlops.__version__
    meta = json.loads(get(url, "/metadata"))
    assert meta["name"] == "iris" and meta["version"] in (1, 2)
    assert meta["signature"]["inputs"][0]["name"] == "sepal length (cm)"
    text = get(url, "/metrics")
    assert "# TYPE mlops_request_latency_ms histogram" in text
    assert 'mlops_requests_total{model="iris",version="' in text
    with pytest.raises(urllib.error.HTTPError) as err:
        get(url, "/nope")
    assert err.value.code == 404 and "POST /invocations" in json.loads(err.value.read())["message"]


def test_predictions_are_logged_off_the_request_path(served):
    url, name = served["dep"].url, served["dep"].name
    post(url, rows([[5.1, 3.5, 1.4, 0.2], [6.0, 2.2, 5.0, 1.5]]))
    store = mlops.get_store()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records, _ = store.read_records(f"predictions/{name}")
        if any(r["inputs"].get("sepal length (cm)") == 6.0 for r in records):
            break
        time.sleep(0.2)
    row = next(r for r in records if r["inputs"].get("sepal length (cm)") == 6.0)
    assert set(row) == {
        "ts", "request_id", "version", "latency_ms", "inputs", "prediction", "violations"
    }  # fmt: skip
    assert row["violations"] == []  # iris v1 keeps its data contract
    assert row["latency_ms"] > 0


def test_prediction_log_keeps_the_newest_rows(served, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_LOG_ROWS", "50")
    small = deploy("models:/iris/1", name="iris-small-log")
    try:
        for batch in range(8):
            assert post(small.url, rows([[5.0 + batch, 3.0, 1.0, 0.2]] * 10))[0] == 200
            time.sleep(0.3)  # several flushes
        store = mlops.get_store()
        deadline = time.monotonic() + 10
        while True:
            records, _ = store.read_records("predictions/iris-small-log")
            if records and records[-1]["inputs"]["sepal length (cm)"] == 12.0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert 50 <= len(records) <= 60  # trimmed back to 50 once past 60
        assert records[0]["inputs"]["sepal length (cm)"] > 5.0  # the oldest went first
    finally:
        undeploy("iris-small-log")


def test_alias_move_reloads_without_failed_requests(served):
    url, X = served["dep"].url, served["X"]
    failures, answers, stop = [], [], threading.Event()

    def hammer():
        while not stop.is_set():
            status, body = post(url, rows(X.values[:5].tolist()))
            (answers if status == 200 else failures).append(body)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    mlops.set_alias("iris", "production", 2)
    deadline = time.monotonic() + 20
    while json.loads(get(url, "/metadata"))["version"] != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    mlops.set_alias("iris", "production", 1)  # the rollback
    while json.loads(get(url, "/metadata"))["version"] != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    assert failures == [] and len(answers) > 20
    stump = served["stump"].predict(X.iloc[:5]).tolist()
    assert {"predictions": stump} in answers  # version 2 answered some requests
    deadline = time.monotonic() + 10
    while [v["version"] for v in get_deployment(served["dep"].name).versions] != [1, 2, 1]:
        assert time.monotonic() < deadline, get_deployment(served["dep"].name).versions
        time.sleep(0.1)


def test_two_deployments_then_a_killed_one_shows_down(served):
    second = deploy("models:/iris/2", name="iris-v2")
    assert second.status == "running" and second.url != served["dep"].url
    status, body = post(second.url, rows([[5.1, 3.5, 1.4, 0.2]]))
    assert status == 200
    statuses = {d.name: d.status for d in list_deployments() if d.status != "stopped"}
    assert statuses == {served["dep"].name: "running", "iris-v2": "running"}
    os.kill(second.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while get_deployment("iris-v2").status != "down":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert undeploy("iris-v2").status == "stopped"


def test_deploy_mistakes_are_clear(served):
    with pytest.raises(Conflict, match="already running"):
        deploy("models:/iris@production")
    with pytest.raises(Conflict, match="Port .* is in use"):
        deploy("models:/iris/1", name="other", port=served["dep"].port)
    with pytest.raises(NotFound, match="No registered model named 'nope'"):
        deploy("models:/nope@production")
    with pytest.raises(NotFound, match="No deployment named 'ghost'"):
        undeploy("ghost")


def test_server_dying_at_start_is_reported(served):
    version = mlops.get_model_version("iris", 2)
    blob = os.path.join(served["store"], "artifacts", version.sha256[:2], version.sha256)
    original = open(blob, "rb").read()
    try:
        with open(blob, "wb") as fh:
            fh.write(b"tampered")
        with pytest.raises(MlopsError, match="exited at start: .*does not match the sha256"):
            deploy("models:/iris/2", name="broken")
        assert get_deployment("broken").status == "failed"
    finally:
        with open(blob, "wb") as fh:
            fh.write(original)


def test_k8s_manifests_are_valid_kubernetes_objects(served, tmp_path):
    import kubernetes_validate
    import yaml

    from jupyter_mlops.serving.k8s import export_k8s

    files = export_k8s("models:/iris@production", str(tmp_path), replicas=3)
    for name in ("deployment.yaml", "service.yaml"):
        doc = yaml.safe_load(open(tmp_path / name))
        kubernetes_validate.validate(doc, "1.30", strict=True)
    deployment = yaml.safe_load(open(tmp_path / "deployment.yaml"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert deployment["spec"]["replicas"] == 3 and container["resources"]["limits"]
    dockerfile = open(tmp_path / "Dockerfile").read()
    assert "scikit-learn==" in dockerfile and '"serve", "/opt/model"' in dockerfile
    # the exported folder is servable as it is, and its hash is checked
    model = mlops.load_model(str(tmp_path / "model"))
    X = served["X"]
    np.testing.assert_array_equal(model.predict(X), served["good"].predict(X))
    assert len(files) == 6 and files[-1].endswith("model/contract.yaml")  # the data contract
    with open(tmp_path / "model" / "model.pkl", "ab") as fh:
        fh.write(b"!")
    with pytest.raises(mlops.IntegrityError):
        mlops.load_model(str(tmp_path / "model"))


def test_serve_refuses_an_unknown_model_cleanly(served):
    with pytest.raises(MlopsError):
        from jupyter_mlops.serving.http import serve

        serve("models:/nope/1", port=0)


def test_a_stopped_deployment_keeps_its_request_count(served):
    dep = deploy("models:/iris/2", name="iris-counted")
    for _ in range(3):
        assert post(dep.url, rows([[5.1, 3.5, 1.4, 0.2]]))[0] == 200
    stopped = undeploy("iris-counted")
    assert stopped.status == "stopped" and stopped.requests == 3  # not 0
    assert get_deployment("iris-counted").requests == 3


def test_a_server_started_by_hand_with_a_name_is_listed(served, tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops", "serve", "models:/iris/1", "--port", str(port),
         "--name", "by-hand"],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "JUPYTER_MLOPS_STORE": served["store"]},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            found = {d.name: d for d in list_deployments()}
            if "by-hand" in found and found["by-hand"].status == "running":
                break
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.2)
        assert found["by-hand"].url == f"http://127.0.0.1:{port}" and found["by-hand"].version == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    assert get_deployment("by-hand").status == "stopped"
