"""Local deployments: a model server as its own process, recorded in the store.

``deploy`` starts ``python -m jupyter_mlops serve ...`` in a new session (so it outlives the
kernel that started it), records it (a :class:`~jupyter_mlops.entities.deployments.DeploymentDoc`,
through the store's ``record_deployment`` / ``update_deployment``), and waits until ``/health``
answers. Status is never cached: ``list_deployments`` checks the process and scrapes
``/metrics`` each time, so a killed server shows as down at the next look.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.entities.deployments import DeploymentDoc
from jupyter_mlops.errors import Conflict, InvalidInput, MlopsError
from jupyter_mlops.processes import process_alive, process_start_time
from jupyter_mlops.store import get_store, refs
from jupyter_mlops.store.ops import missing_deployment

NAME_RE = re.compile(r"^[A-Za-z0-9][\w-]{0,62}$")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # between SIGTERM and SIGKILL
MAX_PROBE_BYTES = 1 << 20  # a health or metrics answer; whatever else answers on the port


@dataclass(frozen=True)
class Deployment:
    """A deployment as recorded, with its live status when listed."""

    name: str
    model_uri: str
    version: int | None
    url: str
    host: str
    port: int
    pid: int | None
    start_time: int
    status: str = "unknown"
    uptime_s: float | None = None
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    log_file: str | None = None


def deploy(
    model_uri: str,
    name: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    on_violation: str = "count",
) -> Deployment:
    """Start a model server for ``model_uri`` and return it once healthy.

    Every request is checked against the served version's data contract; ``on_violation``
    says what a violation does: ``"count"`` (serve it, count it in ``/metrics`` and the
    prediction log) or ``"reject"`` (answer 400 naming the column and the rule).
    """
    from jupyter_mlops.contracts.enforce import check_on_violation

    check_on_violation(on_violation)
    version, model_name = _resolve(model_uri)
    name = name or _default_name(model_uri, model_name)
    _check_name(name)
    _refuse_running(name)
    port = _free_port(host, port)
    log_file = _log_file(name)
    proc = _spawn(model_uri, name, host, port, log_file, on_violation)
    now = _now_ms()
    record = DeploymentDoc(
        name=name,
        model_uri=model_uri,
        version=version,
        host=host,
        port=port,
        url=f"http://{host}:{port}",
        pid=proc.pid,
        proc_start=process_start_time(proc.pid),
        host_name=socket.gethostname(),
        start_time=now,
        state="starting",
        versions=[{"version": version, "time": now}],
        log_file=log_file,
        on_violation=on_violation,
    )
    try:
        get_store().record_deployment(record)
    except BaseException:  # never a server the store does not know about
        _terminate(proc.pid, record.proc_start)
        raise
    _wait_healthy(proc, record, log_file)
    get_store().update_deployment(name, state="running")
    return get_deployment(name)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _resolve(model_uri: str) -> tuple[int | None, str]:
    """The version ``model_uri`` serves now (``None`` for ``runs:/``) and a name for it."""
    if not refs.is_model_uri(model_uri):
        raise InvalidInput(
            f"Cannot deploy {model_uri!r}: use models:/<name>@<alias>, "
            "models:/<name>/<version> or runs:/<run_id>/<path>."
        )
    ref = refs.resolve(get_store(), model_uri, folders=False)
    if ref.version is not None:
        return ref.version, str(ref.name)
    from jupyter_mlops.tracking.models import read_descriptor

    read_descriptor(str(ref.run_id), str(ref.path))
    return None, f"{ref.path}-{str(ref.run_id)[:8]}"


def _default_name(model_uri: str, model_name: str) -> str:
    suffix = model_uri.rsplit("@", 1)[1] if "@" in model_uri else model_uri.rsplit("/", 1)[-1]
    base = re.sub(r"[^\w-]+", "-", f"{model_name}-{suffix}" if "@" in model_uri else model_name)
    return base.strip("-_")[:60] or "model"


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"Invalid deployment name {name!r}: letters, digits, '_' and '-', "
            "starting with a letter or digit, at most 63 characters."
        )


def _refuse_running(name: str) -> None:
    doc = get_store().get_deployment(name)
    if doc and doc.state != "stopped" and process_alive(doc.pid, doc.proc_start):
        raise Conflict(
            f"A deployment named {name!r} is already running at {doc.url}: stop it "
            f"with %mlops_deploy --stop {name} (or `jupyter mlops deployments stop {name}`), "
            "or pick another name with -n."
        )


def _free_port(host: str, port: int | None) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, int(port or 0)))
        except OSError as e:
            raise Conflict(
                f"Port {port} on {host} is in use ({e.strerror}); pick another with "
                "-p, or leave it out to use a free one."
            ) from None
        except (ValueError, TypeError, OverflowError):
            raise InvalidInput(
                f"The port must be a number from 1 to 65535, not {port!r} (leave it out to "
                "use a free one)."
            ) from None
        return sock.getsockname()[1]


def _log_file(name: str) -> str:
    from jupyter_mlops.store import get_tracking_uri

    location = get_tracking_uri()
    folder = os.path.join(location, "deployments") if not location.startswith("memory:") else None
    if folder is None:
        raise InvalidInput(
            "Deployments need a store other processes can open; memory: cannot be shared."
        )
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}.log")


def _spawn(
    model_uri: str, name: str, host: str, port: int, log_file: str, on_violation: str = "count"
) -> subprocess.Popen:
    from jupyter_mlops.store import get_tracking_uri

    env = {**os.environ, "JUPYTER_MLOPS_STORE": get_tracking_uri(), "PYTHONUNBUFFERED": "1"}
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    cmd = [
        sys.executable,
        "-m",
        "jupyter_mlops",
        "serve",
        model_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--name",
        name,
        "--on-violation",
        on_violation,
    ]
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def _wait_healthy(proc: subprocess.Popen, record: DeploymentDoc, log_file: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _mark(record.name, "failed")
            raise MlopsError(
                f"The server for {record.model_uri} exited at start: "
                f"{_last_line(log_file)} (full log: {log_file})"
            )
        if _get_json(f"{record.url}/health", 0.5) is not None:
            return
        time.sleep(0.1)
    _terminate(proc.pid, record.proc_start)
    _mark(record.name, "failed")
    raise MlopsError(
        f"The server for {record.model_uri} did not become healthy in "
        f"{START_TIMEOUT_S:.0f} s; see {log_file}."
    )


def _last_line(path: str) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as fh:
        lines = [line.strip() for line in fh if line.strip()]
        return lines[-1] if lines else "no output"
    return "no output"


def _mark(name: str, state: str) -> None:
    get_store().update_deployment(name, state=state)


def record_version(store: Any, name: str, version: int | None) -> None:
    """Note that deployment ``name`` now serves ``version`` (its alias moved)."""
    store.record_deployment_version(name, version, _now_ms())


# -- stopping and status ------------------------------------------------------------------------
def undeploy(name: str) -> Deployment:
    """Stop a deployment's server (SIGTERM, then SIGKILL after 30 s) and mark it stopped.

    On SIGTERM the server answers the requests in flight and writes its prediction log; the
    30 s leave room for a long log under load. Its last request count, error count and
    latencies are kept with it: a stopped deployment still says what it served.
    """
    doc = _doc(name)
    last = _last_metrics(doc)
    _terminate(doc.get("pid"), doc.get("proc_start"))
    update: dict[str, Any] = {"state": "stopped", "stop_time": _now_ms()}
    if last:
        update["last_metrics"] = last
    get_store().update_deployment(name, **update)
    return get_deployment(name)


stop_deployment = undeploy
"""The verb of the CLI and REST (``deployments stop NAME``); ``undeploy`` stays."""


def _last_metrics(doc: dict[str, Any]) -> dict[str, Any]:
    """The live counters of a deployment that is still up (``{}`` when it is not)."""
    url = _probe_url(doc.get("url"))
    if doc.get("state") in ("stopped", "failed") or url is None:
        return {}
    return _parse_live(_get_text(f"{url}/metrics", 1.0)) or {}


def register_foreground(name: str, model_uri: str, host: str, port: int) -> bool:
    """Record a server started by hand (``jupyter mlops serve --name X``) as a deployment.

    A server that :func:`deploy` spawned is recorded already (its pid is this process):
    nothing is written then. Returns whether a record was written.
    """
    _check_name(name)
    pid = os.getpid()
    existing = get_store().get_deployment(name)
    if existing is not None and existing.pid == pid:
        return False
    _refuse_running(name)  # another live server under this name: a Conflict, not a takeover
    try:
        version = _resolve(model_uri)[0]
    except MlopsError:
        version = None
    now = _now_ms()
    record = DeploymentDoc(
        name=name, model_uri=model_uri, version=version, host=host, port=port,
        url=f"http://{host}:{port}", pid=pid, proc_start=process_start_time(pid),
        host_name=socket.gethostname(), start_time=now, state="running",
        versions=[{"version": version, "time": now}], log_file=None,
        started_by="jupyter mlops serve",
    )  # fmt: skip
    get_store().record_deployment(record)
    return True


def mark_stopped(name: str) -> None:
    """Mark a hand-started server stopped when it exits."""
    get_store().update_deployment(name, state="stopped", stop_time=_now_ms())


def _terminate(pid: Any, proc_start: Any) -> None:
    if not isinstance(pid, int) or not process_alive(pid, proc_start):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and process_alive(pid, proc_start):
        time.sleep(0.05)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    if process_alive(pid, proc_start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _doc(name: str) -> dict[str, Any]:
    found = get_store().get_deployment(name)
    if found is None:
        raise missing_deployment(name, [d.name for d in get_store().list_deployments()])
    return found.to_doc()


def get_deployment(name: str) -> Deployment:
    """One deployment with its live status."""
    return _with_status(_doc(name))


def list_deployments() -> list[Deployment]:
    """Every deployment, newest first, with live status (health, requests, latency)."""
    docs = sorted((d.to_doc() for d in get_store().list_deployments()), key=_newest_first)
    return [_with_status(d) for d in docs]


def _newest_first(doc: dict[str, Any]) -> float:
    start = doc.get("start_time")
    return -start if isinstance(start, (int, float)) else 0.0


def _with_status(doc: dict[str, Any]) -> Deployment:
    live: dict[str, Any] = {}
    state = doc.get("state", "unknown")
    url = _probe_url(doc.get("url"))
    if state not in ("stopped", "failed") and url is None:
        state = "unknown"  # a damaged record: shown, never probed
    elif state not in ("stopped", "failed"):
        alive = doc.get("host_name") != socket.gethostname() or process_alive(
            doc.get("pid"), doc.get("proc_start")
        )
        text = _get_text(f"{url}/metrics", 1.0) if alive else None
        found = _parse_live(text)
        state = "running" if found is not None else "down"
        live = found or {}
    if not live and doc.get("last_metrics"):  # stopped: what it served until then
        live = dict(doc["last_metrics"])
    fields = {
        k: doc.get(k)
        for k in (
            "name",
            "model_uri",
            "version",
            "url",
            "host",
            "port",
            "pid",
            "start_time",
            "versions",
            "log_file",
        )
    }
    fields["versions"] = fields["versions"] or []
    return Deployment(**fields, status=state, **live)  # type: ignore[arg-type]


def _probe_url(url: Any) -> str | None:
    """``url`` when it is a well-formed ``http(s)://host:port`` URL, else ``None``."""
    if not isinstance(url, str):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    return url.rstrip("/") if parts.scheme in ("http", "https") and parts.hostname else None


def _parse_live(text: str | None) -> dict[str, Any] | None:
    """The live figures from a ``/metrics`` answer; ``None`` unless it is our server's."""
    if text is None or "mlops_requests_total" not in text:
        return None
    try:
        return parse_metrics(text)
    except (ValueError, AttributeError, OverflowError):
        return None


def parse_metrics(text: str) -> dict[str, Any]:
    """Requests, errors, p50/p95 latency and uptime from our Prometheus text."""
    requests = errors = 0
    buckets: list[tuple[float, int]] = []
    uptime = None
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        metric, value = line.rsplit(" ", 1)
        if metric.startswith("mlops_requests_total"):
            requests += int(float(value))
            status = re.search(r'status="(\d+)"', metric)
            errors += int(float(value)) if status and int(status.group(1)) >= 400 else 0
        elif metric.startswith("mlops_request_latency_ms_bucket"):
            bound = re.search(r'le="([^"]+)"', metric).group(1)  # type: ignore[union-attr]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), int(float(value))))
        elif metric.startswith("mlops_uptime_seconds"):
            uptime = float(value)
    return {
        "requests": requests,
        "errors": errors,
        "uptime_s": uptime,
        "error_rate": errors / requests if requests else None,
        "p50_ms": _quantile(buckets, 0.5),
        "p95_ms": _quantile(buckets, 0.95),
    }


def _quantile(buckets: list[tuple[float, int]], q: float) -> float | None:
    """Histogram quantile as Prometheus computes it (linear within the bucket)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * (
                (rank - lower_count) / span if span else 1
            )
        lower_bound, lower_count = bound, count
    return None


def _get_text(url: str, timeout: float) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return response.read(MAX_PROBE_BYTES).decode()
    except (urllib.error.URLError, OSError, ValueError, OverflowError):
        return None


def _get_json(url: str, timeout: float) -> Any:
    text = _get_text(url, timeout)
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return None
