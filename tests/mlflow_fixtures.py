"""A real MLflow tracking server on loopback for the tests of the ``mlflow+`` backend.

The server runs from its own venv (``mlflow==3.17.2`` with its SQL store, built once by
``tests/setup_venv.sh`` into ``~/.cache/jupyter-mlops``), with a SQLite backend and artifact
proxying, exactly as ``mlflow server`` is started by a team. The main environment holds only
``mlflow-skinny`` (the client), as users of the ``[mlflow]`` extra do. One server serves the whole
session; tests keep apart by naming their experiments, tables and streams uniquely.
"""

from __future__ import annotations

import os
import uuid

import pytest
import venvs
from mlflow_server import MlflowServer, OurServer

MLFLOW_VERSION = "3.17.2"
VENV = os.environ.get("MLFLOW_SERVER_VENV") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "jupyter-mlops",
    f"venv-mlflow-server-{MLFLOW_VERSION}",
)


def build_server_venv() -> str:
    """The venv's ``mlflow`` command, building the venv first when needed (fails loudly)."""
    script = ["setup_venv.sh", VENV, "import mlflow.server", f"mlflow=={MLFLOW_VERSION}"]
    return venvs.build(script, VENV, os.path.join("bin", "mlflow"))


@pytest.fixture(scope="session")
def mlflow_command() -> str:
    """The server venv's ``mlflow`` command (the venv is built on first use)."""
    return build_server_venv()


@pytest.fixture(scope="session")
def mlflow_server_process(mlflow_command, tmp_path_factory) -> MlflowServer:
    """A tracking server shared by the session's tests (its folder is ``.root``)."""
    server = MlflowServer(mlflow_command, str(tmp_path_factory.mktemp("mlflow-server"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_process) -> str:
    """The URL of the session's tracking server."""
    return mlflow_server_process.url


@pytest.fixture
def unique() -> str:
    """A suffix that keeps a test's experiments, tables and streams apart on a shared server."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def mlflow_python(mlflow_command) -> str:
    """The server venv's python: the full ``mlflow`` package, in a venv of its own.

    It has pyfunc and the sklearn flavor, as a team's training code has.
    """
    return os.path.join(os.path.dirname(mlflow_command), "python")


@pytest.fixture(scope="session")
def our_server(tmp_path_factory) -> OurServer:
    """``jupyter mlops server`` on loopback over a store of its own, shared by the session."""
    server = OurServer(str(tmp_path_factory.mktemp("our-server"))).start()
    yield server
    server.stop()
