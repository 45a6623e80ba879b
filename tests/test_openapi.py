"""Both servers against their OpenAPI documents, with schemathesis: real servers on loopback.

Requests generated from each document (valid ones and ones that break it) go to a model server
process and to a Jupyter server process with our extension: every response must be documented
(status, content type, body schema) and none may be a 500. ``docs/openapi/`` must hold the
documents the servers serve.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow_server import OurServer
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.jupyter import openapi as extension_openapi
from jupyter_mlops.mlflow_api import openapi as mlflow_api_openapi
from jupyter_mlops.serving import openapi as server_openapi
from jupyter_mlops.serving.deploy import deploy, undeploy

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same requests on every run: CI never sees a new one by chance
    suppress_health_check=list(HealthCheck),
)


def cases(document: dict):
    schema = schemathesis.openapi.from_dict(document)
    return st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )


def test_the_documents_in_docs_are_the_ones_served():
    for name, document in extension_openapi.documents().items():
        path = os.path.join(extension_openapi.DOCS, name)
        with open(path, encoding="utf-8") as fh:
            assert fh.read() == extension_openapi.render(document), (
                f"{path} is stale: run python -m jupyter_mlops.jupyter.openapi"
            )


# -- the model server ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    from jupyter_mlops.store import set_tracking_uri

    folder = str(tmp_path_factory.mktemp("openapi") / "store")
    set_tracking_uri(folder)
    os.environ["JUPYTER_MLOPS_STORE"] = folder
    X, y = load_iris(return_X_y=True, as_frame=True)
    mlops.register_model(LogisticRegression(max_iter=500).fit(X, y), "iris", input_example=X)
    dep = deploy("models:/iris/1", name="iris-openapi")
    yield dep
    undeploy(dep.name)
    set_tracking_uri(None)
    os.environ.pop("JUPYTER_MLOPS_STORE", None)


def test_the_model_server_serves_its_document(model_server):
    with urllib.request.urlopen(model_server.url + "/openapi.json", timeout=10) as response:
        assert json.loads(response.read()) == server_openapi.document()


@FUZZ
@given(case=cases(server_openapi.document()))
def test_every_model_server_response_matches_the_document(model_server, case):
    case.call_and_validate(base_url=model_server.url, checks=CHECKS, timeout=30)


# -- the server extension ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """A Jupyter server process with our extension, a store with a run and a model."""
    root = tmp_path_factory.mktemp("openapi-jupyter")
    store = str(root / "store")
    (root / "config").mkdir()
    config = {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}
    (root / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "JUPYTER_MLOPS_STORE": store,
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_DATA_DIR": str(root / "data"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    seed = (
        "import jupyter_mlops as m\nwith m.start_run(experiment='fuzz'):\n"
        "    m.log_metric('acc', 0.5)\n    m.log_param('C', 1)"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True, timeout=120)
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}"]  # fmt: skip
    with open(root / "server.log", "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(url + "jupyter-mlops/api/openapi.json", token, process, root / "server.log")
        yield {"url": url, "token": token}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _wait_for(url: str, token: str, process, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter server exited: {log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"jupyter server did not answer: {log.read_text()[-3000:]}")


def test_the_extension_serves_its_document(jupyter):
    request = urllib.request.Request(
        jupyter["url"] + "jupyter-mlops/api/openapi.json",
        headers={"Authorization": f"token {jupyter['token']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == extension_openapi.document()


@FUZZ
@given(case=cases(extension_openapi.document()))
def test_every_extension_response_matches_the_document(jupyter, case):
    case.call_and_validate(
        base_url=jupyter["url"] + "jupyter-mlops/api",
        headers={"Authorization": f"token {jupyter['token']}"},
        checks=CHECKS,
        timeout=30,
    )


# -- the MLflow-compatible API (jupyter mlops server) --------------------------------------------
@pytest.fixture(scope="module")
def mlflow_api(tmp_path_factory):
    """``jupyter mlops server`` over a store of its own (the fuzzing writes into it)."""
    server = OurServer(str(tmp_path_factory.mktemp("openapi-mlflow"))).start()
    yield server
    server.stop()


def test_the_mlflow_api_serves_its_document(mlflow_api):
    with urllib.request.urlopen(mlflow_api.url + "/openapi.json", timeout=10) as response:
        assert json.loads(response.read()) == mlflow_api_openapi.document()


def test_the_mlflow_api_document_has_every_route():
    from jupyter_mlops.mlflow_api.api import ROUTES

    paths = mlflow_api_openapi.document()["paths"]
    declared = {(r.method.lower(), r.template.replace("{path+}", "{path}")) for r in ROUTES}
    assert declared == {(m, p) for p, ops in paths.items() for m in ops}


@settings(FUZZ, max_examples=400)  # fifty operations: more cases than the other documents
@given(case=cases(mlflow_api_openapi.document()))
def test_every_mlflow_api_response_matches_the_document(mlflow_api, case):
    case.call_and_validate(base_url=mlflow_api.url, checks=CHECKS, timeout=30)


@FUZZ
@given(case=cases(mlflow_api_openapi.document()))
def test_the_mlflow_api_in_jupyter_answers_as_documented(jupyter, case):
    case.call_and_validate(
        base_url=jupyter["url"] + "jupyter-mlops/mlflow",
        headers={"Authorization": f"token {jupyter['token']}"},
        checks=CHECKS,
        timeout=30,
    )
