"""Fixtures shared by every test that touches a store.

A fresh store folder, an IPython shell, and ``backend``: the same test on the embedded store and
on a real MLflow tracking server.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from dataclasses import dataclass

import pytest
from IPython.core.getipython import get_ipython
from IPython.testing.globalipapp import start_ipython

import jupyter_mlops as mlops
from jupyter_mlops.jupyter import magics
from jupyter_mlops.store import set_tracking_uri
from jupyter_mlops.tracking import context
from jupyter_mlops.tracking.session import session


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """A new store folder for this process and its children (working folder outside git)."""
    folder = tmp_path / "store"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(folder))
    for var in ("JUPYTER_MLOPS_EXPERIMENT", "JUPYTER_MLOPS_NOTEBOOK", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(work)
    set_tracking_uri(str(folder))
    session().experiment = None
    yield folder
    while mlops.active_run() is not None:
        mlops.end_run()
    assert context.wait_for_captures(60)
    session().flush()
    set_tracking_uri(None)


@pytest.fixture
def tracking_store(store_dir):
    """The store folder as a string (for tests of the Python API)."""
    return str(store_dir)


@pytest.fixture
def shell(store_dir):
    """The global test IPython shell with ``%load_ext jupyter_mlops`` done (undone after)."""
    start_ipython()  # once per process; later calls return None
    ip = get_ipython()
    magics.load(ip)
    yield ip
    magics.unload(ip)
    ip.user_ns.pop("__vsc_ipynb_file__", None)


@dataclass
class Backend:
    """Where a test's runs go: ``uri`` for ``set_tracking_uri``, and the files at rest."""

    kind: str
    uri: str
    root: str  # the embedded store's folder, or the MLflow server's
    cache: str | None = None

    def file_at_rest(self, run_id: str, path: str) -> str:
        """The stored bytes of a run's artifact (for tests that tamper with them)."""
        if self.kind == "embedded":
            sha = mlops.get_run(run_id).artifacts[path]["sha256"]
            return os.path.join(self.root, "artifacts", sha[:2], sha)
        if self.cache:
            shutil.rmtree(self.cache, ignore_errors=True)  # make the next read download
        (found,) = glob.glob(os.path.join(self.root, "artifacts", "*", run_id, "artifacts", path))
        return found


@pytest.fixture(params=["embedded", "mlflow"])
def backend(request, store_dir, monkeypatch, tmp_path):
    """The test's store: a fresh embedded folder, or a unique experiment on the MLflow server."""
    if request.param == "embedded":
        return Backend("embedded", str(store_dir), str(store_dir))
    return _on_mlflow(request, monkeypatch, tmp_path)


@pytest.fixture
def mlflow_backend(request, store_dir, monkeypatch, tmp_path):
    """The test's store on the session's MLflow server (a unique default experiment)."""
    return _on_mlflow(request, monkeypatch, tmp_path)


def _on_mlflow(request, monkeypatch, tmp_path) -> Backend:
    server = request.getfixturevalue("mlflow_server_process")
    uri = f"mlflow+{server.url}"
    cache = str(tmp_path / "cache")
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", uri)
    monkeypatch.setenv("JUPYTER_MLOPS_CACHE", cache)
    monkeypatch.setenv("JUPYTER_MLOPS_EXPERIMENT", f"Default-{uuid.uuid4().hex[:8]}")
    set_tracking_uri(uri)
    return Backend("mlflow", uri, server.root, cache)
