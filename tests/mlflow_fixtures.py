"""A real MLflow tracking server on loopback for the tests of the ``mlflow+`` backend.

The server runs from its own venv (``mlflow==3.17.2`` with its SQL store, built once by
``tests/setup_venv.sh`` into ``~/.cache/jupyter-mlops``), with a SQLite backend and artifact
proxying, exactly as ``mlflow server`` is started by a team. The main environment holds only
``mlflow-skinny`` (the client), as users of the ``[mlflow]`` extra do. One server serves the whole
session; tests keep apart by naming their experiments, tables and streams uniquely.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

MLFLOW_VERSION = "3.17.2"
HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get("MLFLOW_SERVER_VENV") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "jupyter-mlops",
    f"venv-mlflow-server-{MLFLOW_VERSION}",
)


def build_server_venv() -> str:
    """The venv's ``mlflow`` command, building the venv first when needed (fails loudly)."""
    env = {**os.environ, "PYTHON": sys.executable}
    try:
        done = subprocess.run(
            ["bash", os.path.join(HERE, "setup_venv.sh"), VENV, "import mlflow.server"]
            + [f"mlflow=={MLFLOW_VERSION}"],
            capture_output=True,
            text=True,
            timeout=1800,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"could not build {VENV}: {e}")
    command = os.path.join(VENV, "bin", "mlflow")
    if done.returncode != 0 or not os.path.isfile(command):
        pytest.fail(f"could not build {VENV} (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    """``mlflow server`` in a subprocess: SQLite backend, proxied artifacts, loopback only."""

    def __init__(self, command: str, root: str, port: int | None = None) -> None:
        self.command, self.root = command, root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> MlflowServer:
        os.makedirs(self.root, exist_ok=True)
        log = open(os.path.join(self.root, "server.log"), "ab")  # noqa: SIM115 - closed in stop
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
        self.proc = subprocess.Popen(
            [
                self.command,
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root}/mlflow.db",
                "--artifacts-destination",
                os.path.join(self.root, "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**clean, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
            start_new_session=True,
        )
        self._log = log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        with open(os.path.join(self.root, "server.log"), encoding="utf-8", errors="replace") as fh:
            pytest.fail(f"mlflow server did not start on {self.url}:\n{fh.read()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if self.proc is not None:
            self._log.close()
        self.proc = None


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
