"""Find the notebook a kernel runs, so runs are not recorded as ``ipykernel_launcher.py``.

Sources, first answer wins:

1. ``JUPYTER_MLOPS_NOTEBOOK`` — an explicit override (papermill, CI, unusual front ends);
2. ``JPY_SESSION_NAME`` — set by jupyter_server (2.x) for the kernels it starts;
3. ``__vsc_ipynb_file__`` — set in the user namespace by VS Code's Jupyter extension;
4. the Jupyter server's sessions API: the kernel id comes from the kernel's connection file
   (``kernel-<id>.json``), the running servers from ``jpserver-*.json`` (and classic
   ``nbserver-*.json``) in the runtime folder; each server on a loopback address is asked for
   ``api/sessions`` (1 s timeout, no proxies, token in the ``Authorization`` header) and the
   session holding our kernel names the notebook.

The server lookup is cached per process (a miss is retried after a minute). Nothing here ever
raises: when no source answers, :func:`find_notebook_path` returns ``None`` quietly.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

REQUEST_TIMEOUT_S = 1.0
MISS_RETRY_S = 60.0
_cache: dict[str, tuple[str | None, float]] = {}


def find_notebook_path(user_ns: Mapping[str, Any] | None = None) -> str | None:
    """The path of the notebook this kernel runs, or ``None`` when it cannot be found."""
    try:
        return from_environment() or from_vscode(user_ns) or from_server()
    except Exception:  # a helper, never a reason for a cell to fail
        return None


def from_environment() -> str | None:
    """``JUPYTER_MLOPS_NOTEBOOK``, else ``JPY_SESSION_NAME`` (made absolute when it exists)."""
    for var in ("JUPYTER_MLOPS_NOTEBOOK", "JPY_SESSION_NAME"):
        value = os.environ.get(var, "").strip()
        if value:
            return _absolute(value)
    return None


def _absolute(path: str) -> str:
    if os.path.isabs(path):
        return path
    candidate = os.path.abspath(path)
    if os.path.exists(candidate):
        return candidate
    local = os.path.abspath(os.path.basename(path))  # the kernel usually starts in its folder
    return local if os.path.exists(local) else path


def from_vscode(user_ns: Mapping[str, Any] | None) -> str | None:
    """VS Code's ``__vsc_ipynb_file__`` variable."""
    value = (user_ns or {}).get("__vsc_ipynb_file__")
    return str(value) if isinstance(value, str | os.PathLike) and str(value) else None


def from_server() -> str | None:
    """Ask the local Jupyter servers which session owns this kernel (cached per process)."""
    kernel_id = current_kernel_id()
    if kernel_id is None:
        return None
    cached = _cache.get(kernel_id)
    if cached is not None and (
        cached[0] is not None or time.monotonic() - cached[1] < MISS_RETRY_S
    ):
        return cached[0]
    path = lookup_sessions(kernel_id, server_infos())
    _cache[kernel_id] = (path, time.monotonic())
    return path


def current_kernel_id() -> str | None:
    """The kernel id of this process, from its connection file, when inside ipykernel."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel import get_connection_file

        name = os.path.basename(get_connection_file())
    except Exception:  # not inside a kernel app
        return None
    match = re.match(r"kernel-(.+)\.json$", name)
    return match.group(1) if match else None


def server_infos(runtime_dir: str | None = None) -> list[dict[str, Any]]:
    """The ``jpserver-*.json``/``nbserver-*.json`` files of the runtime folder, newest first."""
    if runtime_dir is None:
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            runtime_dir = jupyter_runtime_dir()
        except Exception:
            return []
    files = glob.glob(os.path.join(runtime_dir, "jpserver-*.json"))
    files += glob.glob(os.path.join(runtime_dir, "nbserver-*.json"))
    infos = []
    for file in sorted(files, key=_mtime, reverse=True):
        try:
            with open(file, encoding="utf-8") as fh:
                info = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and isinstance(info.get("url"), str):
            infos.append(info)
    return infos


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def lookup_sessions(kernel_id: str, infos: list[dict[str, Any]]) -> str | None:
    """The notebook path of the session running ``kernel_id`` on any loopback server."""
    for info in infos:
        if not is_loopback(info["url"]):
            continue
        sessions = fetch_sessions(info)
        for session in sessions:
            if not isinstance(session, dict):
                continue
            if (session.get("kernel") or {}).get("id") != kernel_id:
                continue
            path = session.get("path") or (session.get("notebook") or {}).get("path")
            if isinstance(path, str) and path:
                root = info.get("root_dir") or info.get("notebook_dir") or ""
                return os.path.join(os.path.expanduser(root), path) if root else path
    return None


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (never send a token anywhere else)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch_sessions(info: dict[str, Any], timeout: float = REQUEST_TIMEOUT_S) -> list[Any]:
    """``GET <url>api/sessions`` of one server; ``[]`` on any failure."""
    import urllib.request  # only here: it costs more to import than the whole extension

    url = urljoin(info["url"] if info["url"].endswith("/") else info["url"] + "/", "api/sessions")
    request = urllib.request.Request(url)
    token = info.get("token")
    if token:
        request.add_header("Authorization", f"token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            data = json.loads(response.read(4 << 20))
    except Exception:  # a dead server, a refused token, a slow machine
        return []
    return data if isinstance(data, list) else []


def clear_cache() -> None:
    """Forget cached server lookups (tests, a renamed notebook)."""
    _cache.clear()
