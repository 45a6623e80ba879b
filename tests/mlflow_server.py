"""``mlflow server`` on loopback in a subprocess, for the tests and the benchmarks.

SQLite backend store and proxied artifacts in one folder, exactly as a team starts a tracking
server; the ``mlflow`` command comes from a venv of its own (the main environment holds only the
client, ``mlflow-skinny``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    """``mlflow server`` in a subprocess: SQLite backend, proxied artifacts, loopback only."""

    def __init__(self, command: str, root: str, port: int | None = None, workers: int = 1) -> None:
        self.command, self.root, self.workers = command, root, workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        """The command that starts the server."""
        return [
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
            str(self.workers),
        ]

    def start(self, timeout: float = 180) -> MlflowServer:
        os.makedirs(self.root, exist_ok=True)
        log = open(os.path.join(self.root, "server.log"), "ab")  # noqa: SIM115 - closed in stop
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
        self.proc = subprocess.Popen(
            self.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**clean, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
            start_new_session=True,
            cwd=REPO,
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
            raise RuntimeError(
                f"{self.argv()[:2]} did not start on {self.url}:\n{fh.read()[-3000:]}"
            )

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


class OurServer(MlflowServer):
    """``jupyter mlops server`` over the store in ``root``/store.

    The same loopback and health check as ``mlflow server``: tests and benchmarks treat both
    servers alike.
    """

    def __init__(self, root: str, port: int | None = None) -> None:
        super().__init__(sys.executable, root, port)
        self.store = os.path.join(root, "store")

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "jupyter_mlops", "--store", self.store,
            "server", "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
