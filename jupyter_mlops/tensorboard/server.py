"""A TensorBoard process over a log folder, bound to 127.0.0.1 (``%mlops_tensorboard``).

TensorBoard runs as ``python -m tensorboard.main --logdir DIR --host 127.0.0.1 --port P`` in a
child process of this one; :func:`start_tensorboard` waits until it answers HTTP, and reuses a
live one already serving the same folder. Children are stopped when this process exits.
No iframe is involved: callers show the URL (iframes break behind proxies and in VS Code).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import IO

from jupyter_mlops.errors import Conflict, InvalidInput, MlopsError

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
RELOAD_INTERVAL_S = 2
_servers: dict[str, tuple[TensorBoardServer, subprocess.Popen[bytes]]] = {}


@dataclass(frozen=True)
class TensorBoardServer:
    """A running TensorBoard: its folder, URL and process id."""

    logdir: str
    url: str
    port: int
    pid: int


def tensorboard_installed() -> bool:
    """Whether the ``tensorboard`` package can be started."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):  # a broken or blocked install
        return False


def start_tensorboard(
    logdir: str, port: int | None = None, timeout: float = START_TIMEOUT_S
) -> TensorBoardServer:
    """TensorBoard over ``logdir`` on 127.0.0.1 (a running one for the folder is reused)."""
    if not tensorboard_installed():
        raise InvalidInput(
            "TensorBoard is not installed: pip install 'jupyter-mlops[tensorboard]' "
            "(or pip install tensorboard), then run this again."
        )
    logdir = os.path.abspath(logdir)
    known = _servers.get(logdir)
    if known is not None and known[1].poll() is None and (port is None or port == known[0].port):
        return known[0]
    port = _free_port(port)
    log = tempfile.TemporaryFile()
    command = [
        sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", HOST,
        "--port", str(port), "--reload_interval", str(RELOAD_INTERVAL_S),
    ]  # fmt: skip
    with log:  # the child keeps its own copy of the file; ours is for a failed start only
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        server = TensorBoardServer(logdir, f"http://{HOST}:{port}/", port, process.pid)
        _wait_until_up(server, process, log, timeout)
    _servers[logdir] = (server, process)
    return server


def _free_port(port: int | None) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, int(port or 0)))
        except OSError as e:
            raise Conflict(f"Port {port} is in use ({e.strerror}); pick another one.") from None
        except (TypeError, ValueError):
            raise InvalidInput(f"The port must be a number, not {port!r}.") from None
        return int(sock.getsockname()[1])


def _wait_until_up(
    server: TensorBoardServer, process: subprocess.Popen[bytes], log: IO[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            raise MlopsError(f"TensorBoard exited at start: {' / '.join(tail) or 'no output'}")
        try:
            with urllib.request.urlopen(server.url + "data/environment", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    process.kill()
    process.wait()
    raise MlopsError(f"TensorBoard did not answer on {server.url} within {timeout:.0f} s.")


def stop_tensorboard(logdir: str | None = None) -> list[TensorBoardServer]:
    """Stop this process's TensorBoard for ``logdir`` (default: every one); returns them."""
    folders = list(_servers) if logdir is None else [os.path.abspath(logdir)]
    stopped = []
    for folder in folders:
        entry = _servers.pop(folder, None)
        if entry is None:
            continue
        server, process = entry
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stopped.append(server)
    return stopped


def running_servers() -> list[TensorBoardServer]:
    """The TensorBoards started by this process that are still running."""
    return [server for server, process in _servers.values() if process.poll() is None]


atexit.register(stop_tensorboard)


# -- TensorBoard over the store's runs ------------------------------------------------------------
DEFAULT_LOGDIR = "tensorboard_logs"


@dataclass(frozen=True)
class TensorBoardView:
    """What ``%mlops_tensorboard`` set up: the export, the live exporter, the server."""

    server: TensorBoardServer
    exported: int
    points: int
    experiments: tuple[str, ...] | None

    def __str__(self) -> str:
        which = ", ".join(repr(e) for e in self.experiments) if self.experiments else "every"
        return (
            f"TensorBoard at {self.server.url} over {self.server.logdir} "
            f"({self.exported} run{'s' * (self.exported != 1)} of {which} experiment"
            f"{'s' * (not self.experiments or len(self.experiments) != 1)}, following new ones)"
        )


def show_runs(
    logdir: str = DEFAULT_LOGDIR,
    experiments: list[str] | None = None,
    port: int | None = None,
) -> TensorBoardView:
    """Export runs into ``logdir``, follow running ones live, and serve it with TensorBoard."""
    from jupyter_mlops.tensorboard.export import export_runs
    from jupyter_mlops.tensorboard.live import live_export

    if not tensorboard_installed():
        start_tensorboard(logdir)  # raises the install hint before anything is written
    result = export_runs(logdir, experiments)
    live_export(result.logdir, experiments)
    server = start_tensorboard(result.logdir, port)
    return TensorBoardView(server, len(result.runs), result.added, tuple(experiments or ()) or None)
