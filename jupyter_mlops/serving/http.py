"""The model server's HTTP layer (tornado): routes to :class:`ModelService` calls.

This is the one module of ``serving`` that imports tornado; everything it answers comes from
the service. Errors are JSON: ``{"error_code": ..., "message": ...}`` with a 4xx status.

What a client cannot do to it: hold a connection without sending its headers (closed after
``IDLE_TIMEOUT_S``, which is also how long an idle keep-alive connection stays), take longer
than ``BODY_TIMEOUT_S`` to send a body, send more than ``MAX_HEADER_BYTES`` of headers (the
connection is closed) or a body over ``MAX_BODY_BYTES`` (a JSON 413). On SIGTERM (or SIGINT)
the server stops accepting connections, lets the requests in flight finish (for at most
``DRAIN_TIMEOUT_S``), closes the connections and writes the rest of the prediction log.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tornado.ioloop
import tornado.web
from tornado.http1connection import HTTP1Connection

from jupyter_mlops.errors import InvalidInput, MlopsError, NotFound, SchemaError
from jupyter_mlops.serving import v2
from jupyter_mlops.serving.service import ModelService

MAX_BODY_BYTES = 20 * 1024 * 1024
INLINE_BODY_BYTES = 64 * 1024  # answered on the event loop; larger bodies on _LARGE_REQUESTS
HARD_BODY_BYTES = 4 * MAX_BODY_BYTES  # read and dropped, so the client can read its 413
MAX_HEADER_BYTES = 64 * 1024
FOLLOW_INTERVAL_MS = 1000
DRAIN_TIMEOUT_S = 10.0  # well under deploy's 30 s between SIGTERM and SIGKILL


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


IDLE_TIMEOUT_S = _seconds("JUPYTER_MLOPS_SERVE_IDLE_TIMEOUT_S", 30.0)
BODY_TIMEOUT_S = _seconds("JUPYTER_MLOPS_SERVE_BODY_TIMEOUT_S", 60.0)


_LARGE_REQUESTS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-large-request")


class InFlight:
    """The requests between their headers and their end; empty once the server has drained."""

    def __init__(self) -> None:
        self.draining = False
        self._handlers: set[int] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self, handler: tornado.web.RequestHandler) -> None:
        self._handlers.add(id(handler))
        self._idle.clear()

    def leave(self, handler: tornado.web.RequestHandler) -> None:
        self._handlers.discard(id(handler))
        if not self._handlers:
            self._idle.set()

    def release_all(self) -> None:
        """Stop waiting for the requests in flight (a second signal)."""
        self._idle.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until no request is in flight; ``False`` if some still were after ``timeout``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class _Handler(tornado.web.RequestHandler):
    def initialize(self, service: ModelService, inflight: InFlight) -> None:
        self.service = service
        self.inflight = inflight

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def prepare(self) -> Any:
        self.inflight.enter(self)

    def on_finish(self) -> None:
        self.inflight.leave(self)

    def on_connection_close(self) -> None:
        self.inflight.leave(self)

    def finish(self, chunk: Any = None) -> Any:
        if self.inflight.draining and not self._headers_written:
            self.set_header("Connection", "close")  # the client reconnects elsewhere
        return super().finish(chunk)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason if status_code != 500 else "internal error; see the server log"
        self.finish(self.error_json(status_code, reason))

    def fail(self, status: int, message: str, code: str | None = None) -> None:
        self.set_status(status)
        self.finish(self.error_json(status, message, code))

    def error_json(self, status: int, message: str, code: str | None = None) -> str:
        """MLflow's error body; the V2 routes' is ``{"error": message}``."""
        if self.request.path.startswith("/v2"):
            return json.dumps({"error": message})
        return json.dumps({"error_code": code or _code(status), "message": message})


JSON, CSV = "application/json", "text/csv"


def error_code(error: InvalidInput) -> str:
    """MLflow's code for a refused request: a schema mismatch is ``INVALID_PARAMETER_VALUE``."""
    return "INVALID_PARAMETER_VALUE" if isinstance(error, SchemaError) else "BAD_REQUEST"


def media_type(header: str) -> tuple[str, str | None]:
    """The request's media type, and why it is refused (a 415), as MLflow's scoring server does.

    JSON and CSV are taken; ``charset`` must be UTF-8 and no other parameter is allowed.
    """
    media, *parameters = [part.strip() for part in header.split(";")]
    media = media.lower()
    names = {p.partition("=")[0].strip().lower(): p.partition("=")[2].strip() for p in parameters}
    charset = names.pop("charset", "utf-8").strip('"').lower()
    if media not in (JSON, CSV):
        return media, f"Content-Type must be {JSON} or {CSV}, not {header[:80]!r}."
    if charset not in ("utf-8", "utf8"):
        return media, f"The model server only takes UTF-8, not charset={charset[:40]!r}."
    if names:
        shown = ", ".join(sorted(n[:40] for n in names)[:5])
        return media, f"Unrecognized Content-Type parameter(s): {shown} (only charset is taken)."
    return media, None


def _code(status: int) -> str:
    return {
        400: "BAD_REQUEST",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "PAYLOAD_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
    }.get(status, "INTERNAL_ERROR")


@tornado.web.stream_request_body
class _Streamed(_Handler):
    """A ``POST`` whose body streams in.

    An oversized body is read and dropped (up to the server's hard limit) so the client can read
    a JSON 413 instead of a reset connection.
    """

    def prepare(self) -> None:
        super().prepare()
        self._chunks: list[bytes] = []
        self._size = 0
        declared = self.request.headers.get("Content-Length", "")
        self._too_large = declared.isdigit() and int(declared) > MAX_BODY_BYTES
        if self._too_large and int(declared) > HARD_BODY_BYTES:
            # Answer now; the body is read and dropped until it ends or BODY_TIMEOUT_S passes
            # (tornado would otherwise answer a bare 400 and close).
            connection = self.request.connection
            if isinstance(connection, HTTP1Connection):
                connection.set_max_body_size(int(declared))
            self.set_header("Connection", "close")
            self._refuse_size()

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        self._too_large = self._too_large or self._size > MAX_BODY_BYTES
        if not self._too_large:
            self._chunks.append(chunk)

    async def off_loop(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``: for a small body inline (no thread hop), else on a worker thread.

        So parsing and predicting a big batch never keeps ``/health`` and other clients waiting.
        """
        if len(self.request.body) <= INLINE_BODY_BYTES:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(_LARGE_REQUESTS, fn, *args)

    def _refuse_size(self) -> None:
        self.service.metrics.observe(413, 0.0)
        self.fail(
            413,
            f"The request body is larger than {MAX_BODY_BYTES >> 20} MiB; send smaller batches.",
        )


class Invocations(_Streamed):
    """``POST /invocations``: MLflow's scoring protocol."""

    async def post(self) -> None:
        if self._too_large:
            return self._refuse_size()
        started = time.perf_counter()
        status, rows = 200, 0
        self.request.body = b"".join(self._chunks)
        try:
            media, refusal = media_type(self.request.headers.get("Content-Type", ""))
            if refusal:
                status = 415
                return self.fail(415, refusal)
            result = await self.off_loop(self.service.invoke, self.request.body, media == CSV)
            rows = len(result["predictions"])
            self.finish(json.dumps(result, default=str))
        except InvalidInput as e:
            status = 400
            self.fail(400, str(e), error_code(e))
        finally:
            self.service.metrics.observe(status, (time.perf_counter() - started) * 1000, rows)


class V2Infer(_Streamed):
    """``POST /v2/models/{name}[/versions/{version}]/infer``: the Open Inference Protocol."""

    async def post(self, name: str, version: str | None = None) -> None:
        if self._too_large:
            return self._refuse_size()
        started = time.perf_counter()
        status, rows = 200, 0
        self.request.body = b"".join(self._chunks)
        try:
            if "Inference-Header-Content-Length" in self.request.headers:
                raise InvalidInput(
                    "The binary tensor extension is not supported: send tensors as JSON data "
                    "(binary_data=False in Triton's client)."
                )
            args = (self.service, name, version, self.request.body)
            result = await self.off_loop(v2.infer, *args)
            rows = result["outputs"][0]["shape"][0] if result["outputs"][0]["shape"] else 1
            self.finish(json.dumps(result, default=str))
        except NotFound as e:
            status = 404
            self.fail(404, str(e))
        except InvalidInput as e:
            status = 400
            self.fail(400, str(e))
        finally:
            self.service.metrics.observe(status, (time.perf_counter() - started) * 1000, rows)


class V2Get(_Handler):
    """The V2 ``GET`` routes: server metadata and health, model metadata and readiness."""

    def initialize(self, service: ModelService, inflight: InFlight, answer: str = "") -> None:
        super().initialize(service, inflight)
        self.answer = answer

    def get(self, name: str | None = None, version: str | None = None) -> None:
        answers = {
            "server": lambda: v2.server_metadata(),
            "live": lambda: {"live": True},
            "ready": lambda: {"ready": True},
            "model": lambda: v2.model_metadata(self.service, name or "", version),
            "model_ready": lambda: v2.model_ready(self.service, name or "", version),
        }
        try:
            self.finish(json.dumps(answers[self.answer]()))
        except NotFound as e:
            self.fail(404, str(e))


class Health(_Handler):
    """``GET /health`` (and ``/ping``)."""

    def get(self) -> None:
        self.finish(json.dumps(self.service.health()))


class Version(_Handler):
    """``GET /version``: the server's version as plain text, as MLflow's scoring server answers."""

    def get(self) -> None:
        from jupyter_mlops.version import __version__

        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(__version__)


class OpenApi(_Handler):
    """``GET /openapi.json``: this server's OpenAPI 3 document."""

    def get(self) -> None:
        from jupyter_mlops.serving.openapi import document

        self.finish(json.dumps(document()))


class Metadata(_Handler):
    """``GET /metadata``: model name, version, signature."""

    def get(self) -> None:
        self.finish(json.dumps(self.service.metadata(), default=str))


class PromMetrics(_Handler):
    """``GET /metrics`` in Prometheus text format."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; version=0.0.4")
        self.finish(self.service.metrics_text())


class NotFoundHandler(_Handler):
    """Any other path: a JSON 404 listing the routes."""

    def prepare(self) -> None:
        super().prepare()
        self.fail(
            404,
            f"No route {self.request.path[:200]}; use POST /invocations, GET /health, /version, "
            "/metadata, /metrics, or the V2 routes under /v2 (see GET /openapi.json).",
        )


_MODEL = r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"


def make_app(service: ModelService, inflight: InFlight | None = None) -> tornado.web.Application:
    """The tornado application for ``service``."""
    args: dict[str, Any] = {"service": service, "inflight": inflight or InFlight()}
    return tornado.web.Application(
        [
            (r"/invocations", Invocations, args),
            (r"/v2/?", V2Get, {**args, "answer": "server"}),
            (r"/v2/health/live", V2Get, {**args, "answer": "live"}),
            (r"/v2/health/ready", V2Get, {**args, "answer": "ready"}),
            (_MODEL, V2Get, {**args, "answer": "model"}),
            (_MODEL + "/ready", V2Get, {**args, "answer": "model_ready"}),
            (_MODEL + "/infer", V2Infer, args),
            (r"/health", Health, args),
            (r"/ping", Health, args),
            (r"/version", Version, args),
            (r"/openapi.json", OpenApi, args),
            (r"/metadata", Metadata, args),
            (r"/metrics", PromMetrics, args),
        ],
        default_handler_class=NotFoundHandler,
        default_handler_args=args,
    )


def serve(
    model_uri: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    name: str | None = None,
    on_violation: str = "count",
) -> None:
    """Load the model and serve it until SIGTERM/SIGINT (blocking)."""
    try:
        service = ModelService(model_uri, deployment=name, on_violation=on_violation)
    except (NotFound, InvalidInput) as e:
        raise MlopsError(f"Cannot serve {model_uri}: {e}") from e
    asyncio.run(_run(service, host, port))


async def _run(service: ModelService, host: str, port: int) -> None:
    inflight = InFlight()
    app = make_app(service, inflight)
    from jupyter_mlops.ports import listening

    server = listening(
        app,
        host,
        port,
        max_body_size=HARD_BODY_BYTES,
        max_header_size=MAX_HEADER_BYTES,
        idle_connection_timeout=IDLE_TIMEOUT_S,
        body_timeout=BODY_TIMEOUT_S,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():  # a second signal: stop waiting for the requests in flight
            inflight.release_all()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    follower = None
    if service.follows_alias():
        follower = tornado.ioloop.PeriodicCallback(
            lambda: _follow(service, loop), FOLLOW_INTERVAL_MS
        )
        follower.start()
    print(
        f"Serving {service.model_uri} (version {service.current.version}) on http://{host}:{port}",
        flush=True,
    )
    await stop.wait()
    await _drain(server, inflight, follower)
    service.close()
    print("Stopped: every request answered, the prediction log written.", flush=True)


async def _drain(server: Any, inflight: InFlight, follower: Any) -> None:
    """Stop accepting, let the requests in flight end, then close every connection."""
    inflight.draining = True
    server.stop()
    if follower:
        follower.stop()
    if not await inflight.drained(DRAIN_TIMEOUT_S):
        print(f"Stopping with requests still in flight after {DRAIN_TIMEOUT_S:g} s.", flush=True)
    await server.close_all_connections()


def _follow(service: ModelService, loop: asyncio.AbstractEventLoop) -> None:
    # Loading runs in a worker thread; the swap is one assignment, so serving never pauses.
    future = loop.run_in_executor(None, service.reload_if_moved)
    future.add_done_callback(lambda f: _announce(service, f))


def _announce(service: ModelService, future: Any) -> None:
    if future.exception() is not None:
        print(
            f"Reload failed, still serving version {service.current.version}: {future.exception()}",
            flush=True,
        )
    elif future.result() is not None:
        print(f"Alias moved: now serving version {service.current.version}", flush=True)
        if service.deployment:
            from jupyter_mlops.serving.deploy import record_version

            record_version(service.store, service.deployment, service.current.version)
