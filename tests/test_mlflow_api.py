"""The MLflow-compatible tracking API, driven by the real ``mlflow`` client in its own venv.

Against ``jupyter mlops server`` (a real process over a real store folder) and against the
Jupyter server extension's ``/jupyter-mlops/mlflow`` behind Jupyter's token. What the client logs
is then read back through our own store, search and side-bar routes. Hostile requests are sent
raw, to our server and to a real ``mlflow server``, and must get the same status and error code.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest
from mlflow_server import OurServer
from sklearn.datasets import load_iris

from jupyter_mlops.jupyter import server_routes
from jupyter_mlops.store.embedded import EmbeddedStore
from jupyter_mlops.viz.run_page import run_page

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlflow_api_client.py")
API = "/api/2.0/mlflow"


def client_env(uri: str, token: str | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
    env = {**clean, "MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    return env


def run_client(python: str, env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [python, CLIENT, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def request(url: str, method: str, path: str, body: bytes | None = None, headers=None):
    """One raw request (no client-side normalisation of the path): status and JSON body."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, parts.path + path, body=body, headers=headers or {})
        reply = connection.getresponse()
        data = reply.read()
    finally:
        connection.close()
    try:
        return reply.status, json.loads(data)
    except ValueError:
        return reply.status, {"raw": data[:200].decode("utf-8", "replace")}


def post(url: str, path: str, doc) -> tuple[int, dict]:
    return request(url, "POST", f"{API}/{path}", json.dumps(doc).encode(),
                   {"Content-Type": "application/json"})  # fmt: skip


# -- the whole lifecycle on the standalone server --------------------------------------------------
@pytest.fixture(scope="module")
def lifecycle(our_server, mlflow_python):
    return run_client(mlflow_python, client_env(our_server.url), "lifecycle", "fraud", "fraud-lr")


def test_runs_params_metrics_and_search_read_as_in_mlflow(lifecycle):
    assert lifecycle["changed_param"] == "INVALID_PARAMETER_VALUE"  # params are write-once
    assert lifecycle["search"] == [
        {"tags.mlflow.runName": "lr-c1", "metrics.accuracy": 0.97, "params.C": "1.0"},
        {"tags.mlflow.runName": "lr-c2", "metrics.accuracy": 0.91, "params.C": "0.1"},
    ]
    assert lifecycle["by_name"] == ["lr-c1"]
    assert lifecycle["pages"] == [["lr-c2"], ["child"]]  # newest first, one per page
    # log_model logs the run's metrics again; as MLflow does, a repeated point is kept once
    assert lifecycle["history"] == [[0, 1.0], [1, 0.5], [2, 1 / 3], [3, 0.25], [4, 0.2]]
    assert lifecycle["params"] == {"C": "1.0", "solver": "lbfgs", "max_iter": "300"}
    tags = lifecycle["tags"]
    assert tags["team"] == "fraud" and tags["mlflow.runName"] == "lr-c1"
    assert tags["mlflow.source.name"].endswith("mlflow_api_client.py")
    assert not any(k.startswith("mlops.source") for k in tags)  # shown under MLflow's names
    assert (
        lifecycle["status"] == "FINISHED" and lifecycle["missing_run"] == "RESOURCE_DOES_NOT_EXIST"
    )
    assert lifecycle["artifact_uri"] == (
        f"mlflow-artifacts:/{lifecycle['experiment_id']}/{lifecycle['run_id']}/artifacts"
    )


def test_models_are_logged_registered_aliased_and_loaded(lifecycle):
    assert (lifecycle["version"], lifecycle["again"], lifecycle["alias_version"]) == ("1", "2", "1")
    assert lifecycle["registered"] == lifecycle["liked"] == ["fraud-lr"]
    assert lifecycle["model_description"] == "scores card fraud"
    assert lifecycle["model_tags"] == {"team": "fraud"}
    assert sorted(lifecycle["versions"]) == ["1", "2"]
    assert lifecycle["predictions"] == [0, 0, 0, 0]  # iris' first rows are setosa
    assert lifecycle["text"] == "hello from mlflow"
    assert lifecycle["model_id"].startswith("m-")


def test_what_the_client_logged_is_ours(lifecycle, our_server, monkeypatch):
    store = EmbeddedStore.open(our_server.store)
    run = store.get_run(lifecycle["run_id"])
    assert run["experiment"] == "fraud" and run["run_name"] == "lr-c1"
    assert run["tags"]["mlops.source.name"].endswith("mlflow_api_client.py")
    assert store.get_run(lifecycle["child_id"])["parent_run_id"] == lifecycle["run_id"]
    assert {"model/MLmodel", "model/requirements.txt", "notes/readme.txt"} <= set(run["artifacts"])
    versions = store.list_model_versions("fraud-lr")
    assert [(v.version, v.source, v.flavor) for v in versions] == [
        (1, f"runs:/{run['run_id']}/model", "mlflow"),
        (2, f"runs:/{run['run_id']}/model", "mlflow"),
    ]
    assert [(a.alias, a.version) for a in store.list_aliases("fraud-lr")] == [("champion", 1)]
    move = store.list_alias_moves("fraud-lr")[-1]
    assert move.reason == "set through the MLflow API"

    # ...and the side bar's routes show it, as they show a tracked cell's runs
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", our_server.store)
    page = server_routes.runs_page(["fraud"], None, ["metrics.accuracy DESC"], 10, 0, False, None)
    assert [r["run_name"] for r in page["runs"]][:2] == ["lr-c1", "lr-c2"]
    models = {m["name"]: m for m in server_routes.models(None)["models"]}
    assert models["fraud-lr"]["aliases"] == {"champion": 1}

    # ...and so does the run page (%mlops_run and the side bar's run tab)
    shown = run_page(lifecycle["run_id"], store)
    assert shown["histories"]["loss"]["value"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert [c["run_id"] for c in shown["children"]] == [lifecycle["child_id"]]
    notes = next(a for a in shown["artifacts"] if a["path"] == "notes/readme.txt")
    assert "hello from mlflow" in json.dumps(notes["preview"])


def test_a_version_the_client_registered_loads_and_serves_with_our_tools(
    lifecycle, our_server, monkeypatch, tmp_path
):
    """A version MLflow's client registered is a whole version of ours.

    Its lineage (the run's metrics, for the gate), its signature from the MLmodel's input
    example, and ``load_model`` and the model server through MLflow's pyfunc, files verified.
    """
    import jupyter_mlops as mlops
    from jupyter_mlops.errors import InvalidInput
    from jupyter_mlops.serving.k8s import export_k8s
    from jupyter_mlops.serving.service import ModelService

    monkeypatch.setenv("JUPYTER_MLOPS_STORE", our_server.store)
    version = mlops.get_model_version("fraud-lr", 1)
    assert version.lineage["metrics"]["accuracy"] == 0.97
    columns = [c["name"] for c in version.signature["inputs"]]
    assert columns[0] == "sepal length (cm)" and len(columns) == 4
    X = load_iris(as_frame=True).data
    model = mlops.load_model("models:/fraud-lr@champion")
    assert model.predict(X.head(4)).tolist() == lifecycle["predictions"]
    service = ModelService("models:/fraud-lr/1")
    body = {"dataframe_split": {"columns": columns, "data": X.head(2).values.tolist()}}
    assert service.invoke(json.dumps(body).encode()) == {"predictions": [0, 0]}
    with pytest.raises(InvalidInput, match="petal width"):  # named from the MLmodel's signature
        service.invoke(json.dumps({"dataframe_split": {"columns": columns[:3],
                                                       "data": [[1, 2, 3]]}}).encode())  # fmt: skip
    with pytest.raises(InvalidInput, match="mlflow models build-docker"):  # said, not half-built
        export_k8s("models:/fraud-lr/1", str(tmp_path / "k8s"))
    assert not (tmp_path / "k8s").exists()


def test_a_client_model_whose_file_changed_is_not_loaded(lifecycle, our_server, tmp_path):
    import shutil

    import jupyter_mlops as mlops
    from jupyter_mlops.errors import IntegrityError

    copy = str(tmp_path / "store")
    shutil.copytree(our_server.store, copy)
    store = EmbeddedStore.open(copy)
    run = store.get_run(lifecycle["run_id"])
    data = next(p for p in run["artifacts"] if p.startswith("model/model."))  # the fitted model
    with open(store.artifact_file(lifecycle["run_id"], data), "r+b") as fh:
        fh.write(b"tampered")
    mlops.set_tracking_uri(copy)
    try:
        with pytest.raises(IntegrityError, match="changed on disk. Nothing was loaded"):
            mlops.load_model("models:/fraud-lr/1")
    finally:
        mlops.set_tracking_uri(None)


def test_an_autologged_fit_is_a_whole_run_of_ours(our_server, mlflow_python):
    """``mlflow.sklearn.autolog()`` logs a whole run into our store.

    The estimator's params, training metrics, plots, the model with its signature and input
    example, and the training data as the run's dataset.
    """
    logged = run_client(mlflow_python, client_env(our_server.url), "autolog", "auto", "-")
    store = EmbeddedStore.open(our_server.store)
    run = store.get_run(logged["run_id"])
    assert run["params"]["C"] == "0.5" and run["params"]["max_iter"] == "300"
    assert run["metrics"]["training_accuracy_score"]["last"] > 0.9
    assert {"model/MLmodel", "model/input_example.json", "training_confusion_matrix.png"} <= set(
        run["artifacts"]
    )
    assert run["tags"]["estimator_name"] == "LogisticRegression"
    assert [d["context"] for d in run["datasets"]] == ["train"]
    with open(store.artifact_file(logged["run_id"], "model/MLmodel")) as fh:
        assert "signature:" in fh.read()  # the flavor reads it back with its input schema


# -- Jupyter's mount, behind its token ------------------------------------------------------------
async def test_the_client_works_through_jupyter_with_its_token(
    jp_fetch, jp_serverapp, jp_http_port, jp_base_url, mlflow_python
):
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}jupyter-mlops/mlflow"
    token = jp_serverapp.identity_provider.token

    status, body = await asyncio.to_thread(
        request, url, "GET", f"{API}/experiments/get-by-name?experiment_name=x"
    )
    assert status == 403  # no token: Jupyter refuses before our code runs
    env = client_env(url, token)
    seen = await asyncio.to_thread(run_client, mlflow_python, env, "quick", "in-jupyter", "jm")
    assert seen["runs"] == ["in-jupyter"] and seen["text"] == "through jupyter"
    assert seen["predictions"] == [0, 0] and seen["version"] == "1"

    store = EmbeddedStore.open(os.environ["JUPYTER_MLOPS_STORE"])
    assert store.get_run(seen["run_id"])["params"] == {"C": "0.5"}
    assert store.list_model_versions("jm")[0].source == f"runs:/{seen['run_id']}/model"


def test_over_an_mlflow_backend_store(tmp_path, mlflow_server, mlflow_python, unique):
    """Over whatever store is configured: here our MLflow backend, in front of a real server."""
    server = OurServer(str(tmp_path))
    server.store = f"mlflow+{mlflow_server}"
    server.start()
    try:
        seen = run_client(mlflow_python, client_env(server.url), "quick", f"q-{unique}", unique)
    finally:
        server.stop()
    assert seen["runs"] == ["in-jupyter"] and seen["text"] == "through jupyter"
    assert seen["predictions"] == [0, 0] and seen["version"] == "1"
    # ...kept by the MLflow server behind our store, as our own runs are
    status, reply = request(mlflow_server, "GET", f"{API}/runs/get?run_id={seen['run_id']}")
    assert status == 200 and reply["run"]["data"]["params"] == [{"key": "C", "value": "0.5"}]


# -- hostile and careless requests ----------------------------------------------------------------
def _run_id(url: str) -> str:
    status, body = post(url, "runs/create", {"experiment_id": "0", "start_time": 1})
    assert status == 200, body
    return body["run"]["info"]["run_id"]


def _batch(run_id: str, metrics=0, params=0, tags=0) -> dict:
    return {
        "run_id": run_id,
        "metrics": [
            {"key": f"m{i}", "value": 1.0, "timestamp": 1, "step": 0} for i in range(metrics)
        ],
        "params": [{"key": f"p{i}", "value": "v"} for i in range(params)],
        "tags": [{"key": f"t{i}", "value": "v"} for i in range(tags)],
    }


HOSTILE = [
    # (name, request builder(url, run_id) -> (method, path, body), status, code)
    ("unknown endpoint", lambda r: ("GET", f"{API}/nothing/here", None), 404, "ENDPOINT_NOT_FOUND"),
    (
        "missing run",
        lambda r: ("GET", f"{API}/runs/get?run_id={'0' * 32}", None),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    ),
    (
        "1,001 metrics",
        lambda r: ("POST", f"{API}/runs/log-batch", _batch(r, metrics=1001)),
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    (
        "101 params",
        lambda r: ("POST", f"{API}/runs/log-batch", _batch(r, params=101)),
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    (
        "101 tags",
        lambda r: ("POST", f"{API}/runs/log-batch", _batch(r, tags=101)),
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    (
        "1,001 in all",
        lambda r: ("POST", f"{API}/runs/log-batch", _batch(r, metrics=900, params=60, tags=60)),
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    (
        "text metric",
        lambda r: (
            "POST",
            f"{API}/runs/log-metric",
            {"run_id": r, "key": "m", "value": "abc", "timestamp": 1},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    (
        "escaping key",
        lambda r: (
            "POST",
            f"{API}/runs/log-metric",
            {"run_id": r, "key": "../m", "value": 1, "timestamp": 1},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    ),
    (
        "no experiment",
        lambda r: ("GET", f"{API}/experiments/get?experiment_id=424242", None),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    ),
    (
        "no model",
        lambda r: ("GET", f"{API}/registered-models/get?name=nope-{r}", None),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    ),
]


@pytest.mark.parametrize(("name", "build", "status", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_careless_requests_get_mlflows_own_answer(
    name, build, status, code, our_server, mlflow_server
):
    for url in (our_server.url, mlflow_server):
        method, path, doc = build(_run_id(url))
        body = None if doc is None else json.dumps(doc).encode()
        got, reply = request(url, method, path, body, {"Content-Type": "application/json"})
        assert got == status, (url, reply)
        if url == our_server.url or "raw" not in reply:  # MLflow's 404 of a path is Flask's HTML
            assert reply.get("error_code") == code and reply.get("message"), (url, reply)


def test_where_we_refuse_what_mlflow_lets_through(our_server):
    """A param over 6,000 characters and an unknown run status are refused.

    MLflow cuts the param (a warning in its server's log) and ignores the status; we say so
    instead (docs/mlflow-server.md, "Differences").
    """
    run_id = _run_id(our_server.url)
    status, reply = post(our_server.url, "runs/log-parameter",
                         {"run_id": run_id, "key": "p", "value": "x" * 6001})  # fmt: skip
    assert status == 400 and "at most 6,000" in reply["message"]
    status, reply = post(our_server.url, "runs/update", {"run_id": run_id, "status": "DONE"})
    assert status == 400 and "FINISHED" in reply["message"]
    run = request(our_server.url, "GET", f"{API}/runs/get?run_id={run_id}")[1]["run"]
    assert run["data"]["params"] == [] and run["info"]["status"] == "RUNNING"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"experiment_id": "\xff"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[1, 2]", "must be a JSON object"),
    ],
    ids=["not json", "not utf-8", "deep", "not an object"],
)
def test_a_body_that_does_not_read_is_a_400_naming_why(body, says, our_server):
    status, reply = request(our_server.url, "POST", f"{API}/runs/create", body,
                            {"Content-Type": "application/json"})  # fmt: skip
    assert status == 400 and reply["error_code"] == "INVALID_PARAMETER_VALUE"
    assert says in reply["message"]


def test_limits_paths_and_tokens_are_refused_with_what_to_do(our_server):
    url = our_server.url
    run_id = _run_id(url)
    experiment = post(url, "runs/search", {"experiment_ids": ["0"], "max_results": 1})[1]
    token = experiment["next_page_token"]
    cases = [
        (post(url, "runs/search", {"experiment_ids": ["0"], "page_token": "bogus"}), "page token"),
        (post(url, "runs/search", {"experiment_ids": ["0"], "max_results": 50_001}), "at most"),
        (
            post(url, "runs/search", {"experiment_ids": ["0"], "filter": "metrics.a >"}),
            "missing value after '>'",
        ),
        (
            post(
                url,
                "runs/log-metric",
                {"run_id": run_id, "key": "m", "value": 1, "step": "9" * 1000},
            ),
            "integer",
        ),  # fmt: skip
        (
            post(url, "registered-models/alias", {"name": "x", "alias": "latest", "version": "1"}),
            "not found",
        ),
        (
            request(
                url,
                "PUT",
                f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/a/../../../x",
                b"data",
            ),
            "stay inside",
        ),  # fmt: skip
        (
            request(
                url, "GET", f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/%2e%2e/x"
            ),
            "stay inside",
        ),
        (
            post(
                url,
                "model-versions/create",
                {"name": "escape", "source": f"runs:/{run_id}/model/../../../etc"},
            ),
            "stay inside",
        ),  # fmt: skip
    ]
    for (status, reply), says in cases:
        assert 400 <= status < 500 and says in reply["message"], reply
    assert post(url, "runs/search", {"experiment_ids": ["0"], "page_token": token})[0] == 200


# -- bodies streamed within their limits (the standalone server) -------------------------------
def _raw(url: str, head: str, body: bytes = b"") -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    return sock


def _uploads() -> set[str]:
    return {f for f in os.listdir(tempfile.gettempdir()) if f.startswith("mlops-upload-")}


def test_a_body_announced_over_its_limit_is_refused_before_it_is_read(our_server):
    sock = _raw(our_server.url, "POST /api/2.0/mlflow/runs/create HTTP/1.1\nHost: x\n"
                "Content-Type: application/json\nContent-Length: 20000000\n")  # fmt: skip
    with sock:
        reply = sock.recv(4096).decode()  # answered with not one byte of the body sent
    assert reply.startswith("HTTP/1.1 413") and "REQUEST_LIMIT_EXCEEDED" in reply
    assert "a JSON route takes at most 16,777,216" in reply


def test_an_upload_streams_to_disk_and_a_cut_one_leaves_nothing(our_server):
    url, run_id = our_server.url, _run_id(our_server.url)
    folder = f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts"
    before = _uploads()
    data = os.urandom(20 * 1024 * 1024)
    assert request(url, "PUT", f"{folder}/big.bin", data)[0] == 200
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", f"{folder}/big.bin")
    assert connection.getresponse().read() == data
    connection.close()

    sock = _raw(url, f"PUT {folder}/cut.bin HTTP/1.1\nHost: x\nContent-Length: 10000000\n",
                b"x" * 1_000_000)  # fmt: skip
    sock.close()  # the client gives up half way
    status, listing = request(
        url, "GET", f"/api/2.0/mlflow-artifacts/artifacts?path=0/{run_id}/artifacts"
    )
    assert status == 200 and [f["path"] for f in listing["files"]] == ["big.bin"]
    deadline = time.monotonic() + 10  # the server sees the close on its own loop turn
    while _uploads() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _uploads() == before  # no temporary file left behind
