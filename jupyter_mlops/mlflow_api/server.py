"""``jupyter mlops server``: the MLflow API standalone, on the standard library's HTTP server.

One thread per connection (``ThreadingHTTPServer``); writes run one at a time under a lock
(the embedded store serializes writers across processes with its file lock, and one process's
writes keep their order this way); reads run at once. Binds 127.0.0.1 by default. An idle or
half-sent connection is closed after :data:`IDLE_TIMEOUT_S`; bodies over
:data:`~.routes.MAX_BODY_BYTES` are refused unread (413).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from jupyter_mlops.mlflow_api import routes
from jupyter_mlops.store import get_store, get_tracking_uri

IDLE_TIMEOUT_S = 30.0
_WRITE_LOCK = threading.Lock()


def answer(request: routes.Request) -> routes.Response:
    """Dispatch one request on the configured store, writes one at a time."""
    store = get_store()
    if routes.is_write(request):
        with _WRITE_LOCK:
            return routes.dispatch(store, request)
    return routes.dispatch(store, request)


class TrackingHandler(BaseHTTPRequestHandler):
    """One connection's requests, answered by :func:`answer`."""

    protocol_version = "HTTP/1.1"  # keep-alive: the mlflow client reuses its connections
    disable_nagle_algorithm = True  # else each small response waits ~40 ms for a delayed ACK
    timeout = IDLE_TIMEOUT_S
    server_version = "jupyter-mlops"

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            self._send(routes.error_response("BAD_REQUEST", "Content-Length is not a number."))
            return
        if size < 0 or size > routes.MAX_BODY_BYTES:
            self.close_connection = True
            self._send(
                routes.error_response(
                    "INVALID_PARAMETER_VALUE",
                    f"The body is {size} bytes; at most {routes.MAX_BODY_BYTES} are taken.",
                    413,
                )
            )
            return
        body = self.rfile.read(size) if size else b""
        request = routes.Request.make(
            self.command, parts.path, parts.query, body, dict(self.headers.items())
        )
        self._send(answer(request))

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    def _send(self, response: routes.Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet: one line per request would flood a notebook's terminal."""


def make_server(host: str = "127.0.0.1", port: int = 5000) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving."""
    server = ThreadingHTTPServer((host, port), TrackingHandler)
    server.daemon_threads = True
    return server


def serve(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve until interrupted (``jupyter mlops server``)."""
    server = make_server(host, port)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    print(f"MLflow tracking API on http://{bound_host}:{bound_port}  (store: {get_tracking_uri()})")
    print(f"  export MLFLOW_TRACKING_URI=http://{bound_host}:{bound_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
