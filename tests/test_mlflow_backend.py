"""The ``mlflow+`` backend against a real MLflow tracking server.

What MLflow users see of our runs and models, what we see of theirs, what a second machine sees,
and a server that goes away in the middle of a run.

The store and tracking suites (``test_store.py``, ``test_tracking.py``) already run on this
backend; these tests cover what only a server has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
import warnings

import numpy as np
import pytest
from mlflow_server import MlflowServer

import jupyter_mlops as mlops
from jupyter_mlops.jupyter import server_routes
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking.session import session


@pytest.fixture
def server(mlflow_backend):
    """The tracking URI MLflow's own client uses for the test's store."""
    return mlflow_backend.uri[len("mlflow+") :]


@pytest.fixture
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server, registry_uri=server)


@pytest.fixture
def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, LogisticRegression(max_iter=300).fit(X, y)


def test_runs_read_naturally_in_mlflow(shell, server, client, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK", "/work/notebooks/train.ipynb")
    cell = "import jupyter_mlops as m\nfor i in range(3):\n    m.log_metric('loss', 1 / (i + 1))"
    shell.run_cell(f"%%mlops_track --name tracked\n{cell}")
    with mlops.start_run(name="parent") as parent:
        mlops.set_tags({"mlops.source.git.commit": "0123abc"})  # as the git probe records it
        with mlops.start_run(name="child", nested=True) as child:
            mlops.log_metric("acc", 0.5)
    (tracked,) = mlops.search_runs(filter="attributes.run_name = 'tracked'")["run_id"]
    tags = client.get_run(tracked).data.tags
    assert tags["mlflow.runName"] == "tracked"
    assert tags["mlflow.source.name"] == "/work/notebooks/train.ipynb"
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlflow.user"] == tags["mlops.user"]
    assert [m.step for m in client.get_metric_history(tracked, "loss")] == [0, 1, 2]
    assert client.get_run(child.id).data.tags["mlflow.parentRunId"] == parent.id
    assert client.get_run(parent.id).data.tags["mlflow.source.git.commit"] == "0123abc"
    assert client.get_run(child.id).info.status == "FINISHED"


def test_models_we_register_load_with_mlflow_pyfunc(server, iris):
    import mlflow

    X, model = iris
    name = f"iris-{uuid.uuid4().hex[:6]}"
    with mlops.start_run():
        version = mlops.register_model(model, name, input_example=X.head())
    mlops.set_alias(name, "champion", version.version)
    mlflow.set_tracking_uri(server)
    try:
        loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_array_equal(loaded.predict(X.head(20)), model.predict(X.head(20)))
    ours = mlops.load_model(f"models:/{name}@champion")
    np.testing.assert_array_equal(ours.predict(X.head(20)), model.predict(X.head(20)))


def test_runs_and_models_made_with_mlflow_show_up_in_panels_and_sidebar(
    server, client, iris, tmp_path
):
    from mlflow.entities import Metric, Param

    experiment = f"theirs-{uuid.uuid4().hex[:6]}"
    exp_id = client.create_experiment(experiment)
    run = client.create_run(exp_id, run_name="their-run")
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("acc", 0.5 + i / 10, 0, i) for i in range(3)],
        params=[Param("model", "rf")],
    )
    client.set_terminated(run.info.run_id)
    name = f"theirs-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias(name, "prod", "1")

    frame = mlops.search_runs(experiment, filter="params.model = 'rf' and metrics.acc > 0.6")
    assert frame["run_name"].tolist() == ["their-run"] and frame["metrics.acc"][0] == 0.7
    page = server_routes.runs_page([experiment], None, [], 50, 0)
    assert page["total"] == 1 and page["runs"][0]["metrics"] == {"acc": 0.7}
    assert experiment in {e["name"] for e in server_routes.experiments()["experiments"]}
    detail = server_routes.model_detail(name)
    assert detail["aliases"] == {"prod": 1} and detail["versions"][0]["run_id"] == run.info.run_id
    history = mlops.get_metric_history(run.info.run_id, "acc")
    assert history["step"].tolist() == [0, 1, 2]


def test_a_second_machine_sees_everything(server, mlflow_backend, iris):
    """Registry, alias history, validations and documents written here, read by another process."""
    X, model = iris
    name = f"shared-{uuid.uuid4().hex[:6]}"
    first = mlops.register_model(model, name, input_example=X.head())
    second = mlops.register_model(model, name)
    mlops.set_alias(name, "prod", first.version, reason="first release")
    mlops.set_alias(name, "prod", second.version, reason="retrained")
    get_store().append_records(f"labels/{name}", [{"y": 1}, {"y": 2}])
    code = textwrap.dedent(
        f"""
        import json
        import jupyter_mlops as mlops
        from jupyter_mlops.store import get_store
        moves = [(m["to_version"], m["reason"]) for m in mlops.alias_history({name!r}, "prod")]
        print(json.dumps({{
            "moves": moves,
            "holder": mlops.alias_holder({name!r}, "prod"),
            "versions": [v.version for v in mlops.list_versions({name!r})],
            "sha": mlops.get_model_version({name!r}, 1).sha256,
            "records": get_store().read_records("labels/{name}")[0],
        }}))
        """
    )
    env = {**os.environ, "JUPYTER_MLOPS_STORE": mlflow_backend.uri}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    import json

    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["moves"] == [[1, "first release"], [2, "retrained"]]
    assert seen["holder"] == 2 and seen["versions"] == [1, 2]
    assert seen["sha"] == first.sha256 and len(seen["sha"]) == 64
    assert seen["records"] == [{"y": 1}, {"y": 2}]


def test_a_server_that_goes_away_never_breaks_the_run(
    mlflow_command, store_dir, tmp_path, monkeypatch
):
    """Points logged while the server is down are kept and reach it when it is back.

    The user is told once, and the code of the run never sees an error.
    """
    server = MlflowServer(mlflow_command, str(tmp_path / "server")).start()
    uri = f"mlflow+{server.url}"
    monkeypatch.setenv("JUPYTER_MLOPS_CACHE", str(tmp_path / "cache"))
    mlops.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mlops.start_run(name="unlucky") as run:
                mlops.log_metric("loss", 1.0, step=0)
                session().flush()
                server.stop()
                for i in range(1, 1000):
                    mlops.log_metric("loss", 1.0 / (i + 1), step=i)
            for _ in range(30):  # each attempt takes MLflow's client a few seconds to give up
                session().flush()
                if any("could not write to the store" in str(w.message) for w in caught):
                    break
            for _ in range(3):
                session().flush()  # failing again is not told again
        told = [w for w in caught if "could not write to the store" in str(w.message)]
        assert len(told) == 1, [str(w.message) for w in caught]
        server.start()
        for _ in range(60):  # the flush thread retries every half second
            session().flush()
            try:
                if mlops.get_run(run.id).status == "FINISHED":
                    break
            except mlops.MlopsError:
                pass
        assert mlops.get_run(run.id).status == "FINISHED"
        assert len(mlops.get_metric_history(run.id, "loss")) == 1000
    finally:
        mlops.set_tracking_uri(None)
        server.stop()


def test_a_deployment_serves_logs_and_is_seen_from_the_server(server, iris):
    """A model server process started on the MLflow store: predictions, its record, its log."""
    import json
    import time
    import urllib.request

    from jupyter_mlops.serving.deploy import deploy, list_deployments, undeploy

    X, model = iris
    name = f"served-{uuid.uuid4().hex[:6]}"
    mlops.register_model(model, name, input_example=X.head(), reference_data=X)
    mlops.set_alias(name, "production", 1)
    dep = deploy(f"models:/{name}@production", name=name)
    try:
        body = json.dumps({"instances": X.head(3).to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            dep.url + "/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            predictions = json.loads(reply.read())["predictions"]
        assert predictions == model.predict(X.head(3)).tolist()
        assert name in {d.name for d in list_deployments()}
        for _ in range(60):  # the log is written off the request path, about once a second
            log = mlops.prediction_log(name)
            if len(log) >= 3:
                break
            time.sleep(0.5)
        assert len(log) == 3 and log["version"].tolist() == [1, 1, 1]
    finally:
        undeploy(name)
