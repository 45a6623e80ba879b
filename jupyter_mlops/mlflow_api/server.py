"""Serving the MLflow-compatible API over HTTP (tornado): standalone, or in Jupyter's server.

:func:`answer` is the one place a request becomes a :func:`~.dispatch.handle` call on a thread
pool and its reply is written (JSON, bytes, or a file streamed in chunks); the standalone server
(:func:`serve`, ``jupyter mlops server``) and the Jupyter server extension's handler
(``/jupyter-mlops/mlflow/``, behind Jupyter's authentication) both use it.

The standalone server binds to 127.0.0.1 by default, closes connections idle (or sending no
headers) for ``IDLE_TIMEOUT_S`` and bodies slower than ``BODY_TIMEOUT_S``, and takes headers up to
64 KiB; it has no authentication of its own, like ``mlflow server``, so put it behind one before
binding it to another interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import tornado.web

from jupyter_mlops.mlflow_api.api import MAX_JSON_BYTES
from jupyter_mlops.mlflow_api.artifacts import ARTIFACTS, MAX_ARTIFACT_BYTES
from jupyter_mlops.mlflow_api.dispatch import handle, kind

IDLE_TIMEOUT_S = float(os.environ.get("JUPYTER_MLOPS_SERVER_IDLE_TIMEOUT_S", "60"))
BODY_TIMEOUT_S = float(os.environ.get("JUPYTER_MLOPS_SERVER_BODY_TIMEOUT_S", "300"))
MAX_HEADER_BYTES = 64 * 1024
CHUNK_BYTES = 1 << 20
log = logging.getLogger("jupyter_mlops.mlflow_api")

PoolFor = Callable[[str], Executor]
"""The executor for a request's kind (``"read"``, ``"search"``, ``"write"``)."""


async def answer(
    handler: tornado.web.RequestHandler,
    path: str,
    pool_for: PoolFor,
    body: bytes | None = None,
    body_file: str | None = None,
) -> None:
    """Answer ``handler``'s request for ``path`` (below the mount point) off the event loop.

    The body is the request's own unless the handler streamed it (``body``, or ``body_file`` on
    disk).
    """
    request = handler.request
    method = request.method or "GET"
    route_path = "/" + path.lstrip("/")
    query = {
        k: [v.decode("utf-8", "replace") for v in vs] for k, vs in request.query_arguments.items()
    }
    loop = asyncio.get_running_loop()
    executor = pool_for(kind(method, route_path))
    try:
        reply = await loop.run_in_executor(
            executor,
            handle,
            method,
            route_path,
            query,
            request.body if body is None else body,
            body_file,
        )
    except Exception:
        log.exception("MLflow API: %s %s failed", method, route_path)
        handler.set_status(500)
        handler.set_header("Content-Type", "application/json")
        handler.finish(
            json.dumps(
                {"error_code": "INTERNAL_ERROR", "message": "internal error; see the server log"}
            )
        )
        return
    handler.set_status(reply.status)
    handler.set_header("Content-Type", reply.content_type)
    if reply.file is None:
        handler.finish(reply.payload())
        return
    handler.set_header("Content-Length", str(os.path.getsize(reply.file)))
    with open(reply.file, "rb") as fh:
        while chunk := await loop.run_in_executor(executor, fh.read, CHUNK_BYTES):
            handler.write(chunk)
            await handler.flush()
    handler.finish()


@tornado.web.stream_request_body
class StandaloneHandler(tornado.web.RequestHandler):
    """Every path of the standalone server (``/api/2.0/...``), every method.

    Bodies are streamed, each within its route's limit: an artifact upload goes to a temporary
    file as it arrives (a model of a GiB or two never sits in memory), any other body is at most
    :data:`~.api.MAX_JSON_BYTES`, and one announced as larger is refused before it is read.
    """

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def initialize(self, pools: dict[str, Executor]) -> None:
        self.pools = pools
        self._chunks: list[bytes] = []
        self._upload: Any = None
        self._serving = False

    def check_xsrf_cookie(self) -> None:  # an API for programs: no cookies, no forms
        return None

    def prepare(self) -> None:
        uploading = self.request.method == "PUT" and self.request.path.startswith(ARTIFACTS + "/")
        limit = MAX_ARTIFACT_BYTES if uploading else MAX_JSON_BYTES
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            self.set_status(413)
            self.set_header("Content-Type", "application/json")
            what = "an artifact upload" if uploading else "a JSON route"
            self.finish(
                json.dumps(
                    {
                        "error_code": "REQUEST_LIMIT_EXCEEDED",
                        "message": f"The request body is {int(length):,} bytes; {what} "
                        f"takes at most {limit:,}.",
                    }
                )
            )
            return
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]
        if uploading:
            self._upload = tempfile.NamedTemporaryFile(prefix="mlops-upload-", delete=False)  # noqa: SIM115

    def data_received(self, chunk: bytes) -> None:
        if self._upload is not None:
            self._upload.write(chunk)
        else:
            self._chunks.append(chunk)

    async def _serve(self, path: str) -> None:
        body_file = None
        if self._upload is not None:
            self._upload.close()
            body_file = self._upload.name
        self._serving = True  # the upload is the route's until it answers
        try:
            await answer(self, path, self.pools.__getitem__, b"".join(self._chunks), body_file)
        finally:
            self._discard()

    def on_connection_close(self) -> None:
        if not self._serving:  # a body cut off half way; else _serve removes it when done
            self._discard()

    def _discard(self) -> None:
        if self._upload is not None:
            self._upload.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._upload.name)
            self._upload = None

    get = post = put = patch = delete = _serve

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "error_code": "BAD_REQUEST" if status_code < 500 else "INTERNAL_ERROR",
                    "message": self._reason,
                }
            )
        )


def pools(read_threads: int = 4) -> dict[str, Executor]:
    """Thread pools: reads beside each other, searches on two threads, writes on one."""
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-api-write")
    readers = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="mlops-api-read")
    searchers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlops-api-search")
    return {"read": readers, "search": searchers, "write": writer}


def make_app() -> tornado.web.Application:
    """The standalone server's application: every path to :class:`StandaloneHandler`."""
    return tornado.web.Application([(r"/(.*)", StandaloneHandler, {"pools": pools()})])


def serve(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve the API over the configured store until SIGTERM or SIGINT (blocking)."""
    asyncio.run(_run(host, port))


async def _run(host: str, port: int) -> None:
    from jupyter_mlops.ports import listening
    from jupyter_mlops.store import get_tracking_uri

    server = listening(
        make_app(),
        host,
        port,
        max_body_size=MAX_ARTIFACT_BYTES,
        max_header_size=MAX_HEADER_BYTES,
        idle_connection_timeout=IDLE_TIMEOUT_S,
        body_timeout=BODY_TIMEOUT_S,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"MLflow tracking API over {get_tracking_uri()} on http://{host}:{port} "
        f"(MLFLOW_TRACKING_URI=http://{host}:{port})",
        flush=True,
    )
    await stop.wait()
    server.stop()
    await server.close_all_connections()
    print("Stopped.", flush=True)
