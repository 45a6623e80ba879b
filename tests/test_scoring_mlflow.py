"""Our model server and MLflow's own scoring server, side by side, on the same requests.

MLflow's is ``mlflow models serve --env-manager local`` (``mlflow==3.17.2`` in its own venv, the
one the tracking tests use) serving the very model folder we wrote — our ``MLmodel`` with its
signature. Each request must get the same status from both, the same ``error_code`` when refused
and the same predictions when answered.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest
from mlflow_fixtures import build_server_venv
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from test_signatures import model_folder

import jupyter_mlops as mlops
from jupyter_mlops.serving.deploy import deploy, undeploy

X = load_iris(as_frame=True).data
ROWS = X.iloc[[0, 60, 120]]
SPLIT = json.loads(ROWS.to_json(orient="split", index=False))
JSON = "application/json"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """``(ours, theirs)``: (host, port) of both servers, serving one iris model."""
    from jupyter_mlops.store import set_tracking_uri

    root = tmp_path_factory.mktemp("scoring-mlflow")
    set_tracking_uri(str(root / "store"))
    os.environ["JUPYTER_MLOPS_STORE"] = str(root / "store")
    y = load_iris().target
    version = mlops.register_model(LogisticRegression(max_iter=500).fit(X, y), "iris")
    folder = model_folder(version, str(root / "model"))
    mlflow = build_server_venv()
    port = _port()
    env = {
        **os.environ,
        "PYTHONPATH": "",
        "PATH": f"{os.path.dirname(mlflow)}:{os.environ['PATH']}",
    }
    with open(root / "mlflow.log", "wb") as log:
        theirs = subprocess.Popen(
            [mlflow, "models", "serve", "-m", folder, "--env-manager", "local",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    ours = deploy("models:/iris/1", name="iris-side-by-side")
    try:
        _wait(("127.0.0.1", port), theirs, root / "mlflow.log")
        yield (ours.host, ours.port), ("127.0.0.1", port)
    finally:
        os.killpg(theirs.pid, signal.SIGTERM)
        theirs.wait(timeout=30)
        undeploy(ours.name)
        set_tracking_uri(None)
        os.environ.pop("JUPYTER_MLOPS_STORE", None)


def _wait(address, process, log) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow models serve exited: {log.read_text()[-3000:]}")
        try:
            if call(address, "GET", "/ping")[0] == 200:
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer: {log.read_text()[-3000:]}")


def call(address, method: str, path: str, body: bytes | None = None, content_type: str = JSON):
    conn = http.client.HTTPConnection(*address, timeout=30)
    try:
        conn.request(method, path, body, {"Content-Type": content_type} if body else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _json(value) -> bytes:
    return json.dumps(value).encode()


CASES = {
    "split": (_json({"dataframe_split": SPLIT}), JSON),
    "split-extra-column": (
        _json({"dataframe_split": {**SPLIT, "columns": [*SPLIT["columns"], "note"],
                                   "data": [[*r, "x"] for r in SPLIT["data"]]}}), JSON),
    "records": (_json({"dataframe_records": ROWS.to_dict(orient="records")}), JSON),
    "inputs-columns": (_json({"inputs": ROWS.to_dict(orient="list")}), JSON),
    "instances-objects": (_json({"instances": ROWS.to_dict(orient="records")}), JSON),
    "csv": (ROWS.to_csv(index=False).encode(), "text/csv"),
    "csv-with-index": (ROWS.to_csv().encode(), "text/csv; charset=utf-8"),
    "missing-column": (_json({"dataframe_records": ROWS.iloc[:, :3].to_dict("records")}), JSON),
    "bare-instances": (_json({"instances": ROWS.values.tolist()}), JSON),
    "bare-inputs": (_json({"inputs": ROWS.values.tolist()}), JSON),
    "not-numeric": (_json({"dataframe_split": {**SPLIT, "data": [["x", 1, 1, 1]]}}), JSON),
    "not-json": (b"{nope", JSON),
    "no-format": (_json({"rows": [[1, 2, 3, 4]]}), JSON),
    "two-formats": (_json({"instances": [], "inputs": []}), JSON),
    "format-parameter": (_json({"dataframe_split": SPLIT}), f"{JSON}; format=pandas-split"),
    "latin-1": (_json({"dataframe_split": SPLIT}), "application/json; charset=latin-1"),
    "text-plain": (_json({"dataframe_split": SPLIT}), "text/plain"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_same_request_same_answer_as_mlflow(servers, case):
    body, content_type = CASES[case]
    ours, theirs = (
        call(address, "POST", "/invocations", body, content_type) for address in servers
    )
    assert ours[0] == theirs[0], (case, ours, theirs)
    if ours[0] == 200:
        assert json.loads(ours[1])["predictions"] == json.loads(theirs[1])["predictions"]
    elif ours[0] == 400:
        assert json.loads(ours[1])["error_code"] == json.loads(theirs[1])["error_code"], (
            case, ours, theirs,
        )  # fmt: skip


def test_version_and_ping_answer_like_mlflow(servers):
    for path in ("/version", "/ping", "/health"):
        assert [call(address, "GET", path)[0] for address in servers] == [200, 200], path
