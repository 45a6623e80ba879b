"""``jupyter mlops sync``: embedded store -> MLflow server -> another embedded store, and back.

A fresh server (not the session's shared one) so that what each sync copies can be counted
exactly. The command runs as users run it, in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from mlflow_server import MlflowServer

import jupyter_mlops as mlops
from jupyter_mlops.store import get_store


@pytest.fixture(scope="module")
def server(mlflow_command, tmp_path_factory):
    server = MlflowServer(mlflow_command, str(tmp_path_factory.mktemp("sync-server"))).start()
    yield f"mlflow+{server.url}"
    server.stop()


def jupyter_mlops(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def offline_work(folder: str):
    """Offline work in an embedded store.

    Two experiments' runs (nested ones with long histories), a model with two versions, and an
    alias moved once.
    """
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    mlops.set_tracking_uri(folder)
    with mlops.start_run(name="sweep", experiment="churn") as parent:
        for c in (0.1, 1.0):
            with mlops.start_run(name=f"C={c}", nested=True):
                mlops.log_param("C", c)
                model = LogisticRegression(C=c, max_iter=300).fit(X, y)
                for step in range(1500):
                    mlops.log_metric("loss", 1.0 / (step + 1), step=step)
                mlops.log_dataset(X, "training")
                mlops.log_text(f"C={c}", "notes/readme.txt")
                version = mlops.register_model(model, "churn-model", input_example=X.head())
                mlops.set_alias("churn-model", "prod", version.version, reason=f"C={c}")
    with mlops.start_run(name="eda", experiment="eda"):
        mlops.log_metric("rows", len(X))
    mlops.flush()
    return X, model, parent.id


def test_sync_embedded_to_server_to_embedded_is_idempotent(server, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_CACHE", str(tmp_path / "cache"))
    laptop, other = str(tmp_path / "laptop"), str(tmp_path / "other-laptop")
    try:
        X, model, parent_id = offline_work(laptop)
    finally:
        mlops.set_tracking_uri(None)

    out = jupyter_mlops("sync", laptop, server)
    # per child: the notes, the dataset's contract.yaml and the model's three files (model.pkl,
    # MLmodel.json, MLmodel)
    assert (
        "copied 4 runs (3,001 metric points, 10 artifacts), 1 models, 2 versions, 1 aliases" in out
    ), out
    again = jupyter_mlops("sync", laptop, server)
    assert "copied 0 runs" in again and "0 models, 0 versions, 0 aliases" in again, again

    remote = get_store(server)
    mlops.set_tracking_uri(server)
    try:
        runs = mlops.search_runs(["churn", "eda"], order_by="attributes.run_name")
        assert runs["run_name"].tolist() == ["C=0.1", "C=1.0", "eda", "sweep"]
        child = runs[runs["run_name"] == "C=1.0"]["run_id"].iloc[0]
        sweep = runs[runs["run_name"] == "sweep"]["run_id"].iloc[0]
        assert mlops.get_run(child).parent_run_id == sweep
        assert len(mlops.get_metric_history(child, "loss")) == 1500
        assert mlops.get_run(child).datasets[0]["rows"] == len(X)
        served = mlops.load_model("models:/churn-model@prod")
        np.testing.assert_array_equal(served.predict(X), model.predict(X))
        moves = [m["reason"] for m in mlops.alias_history("churn-model", "prod")]
        assert moves == ["C=0.1", "C=1.0"]
    finally:
        mlops.set_tracking_uri(None)
    assert os.path.basename(remote.artifact_file(child, "notes/readme.txt"))

    # the server's runs, viewed offline on another machine, then pushed back: nothing new
    out = jupyter_mlops("sync", server, other, "--quiet")
    assert "copied 4 runs (3,001 metric points" in out and "2 versions" in out, out
    assert "copied 0 runs" in jupyter_mlops("sync", other, server)
    assert "copied 0 runs" in jupyter_mlops("sync", other, laptop)
    mlops.set_tracking_uri(other)
    try:
        offline = mlops.load_model("models:/churn-model@prod")
        np.testing.assert_array_equal(offline.predict(X), model.predict(X))
        assert len(mlops.search_runs(["churn"])) == 3
    finally:
        mlops.set_tracking_uri(None)


def test_sync_says_what_is_wrong(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", "sync", str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "the same store" in done.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_mlops.cli",
            "sync",
            str(tmp_path),
            "mlflow+http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "cannot reach the MLflow server" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
