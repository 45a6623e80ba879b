"""The MLflow REST API's one dispatcher: routes by method and path, MLflow's error bodies.

A route is a function ``(store, request) -> dict | Response`` registered with :func:`route`
for a method and a path under the tracking URI (``/api/2.0/mlflow/runs/create``); a route
registered with ``prefix=True`` takes every path below its own (the proxied artifact routes).
MLflow's clients call both ``/api/2.0/...`` and ``/ajax-api/2.0/...``; both reach the same route.

Errors are MLflow's: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}`` with the
HTTP status MLflow gives that code (:data:`STATUS`). :func:`dispatch` turns the core's errors
(``NotFound``, ``InvalidInput``, ``Conflict``, ``StoreError``) into those bodies and never lets
an exception out: anything unexpected is a 500 with ``INTERNAL_ERROR`` and a one-line message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from jupyter_mlops.errors import Conflict, InvalidInput, NotFound, StoreError
from jupyter_mlops.store.base import Store

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 << 20
"""The largest request body taken (an artifact upload; JSON bodies are far smaller)."""

STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_ALREADY_EXISTS": 400,
    "PERMISSION_DENIED": 403,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}
"""MLflow's error codes and the HTTP status its server answers each with."""


class ApiError(Exception):
    """An error MLflow's way: an ``error_code`` of :data:`STATUS` and a message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS.get(self.error_code, 400)


@dataclass
class Request:
    """One request, framework-free. ``path`` is below the tracking URI, without the query."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def make(
        cls,
        method: str,
        path: str,
        query_string: str = "",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Request:
        query = parse_qs(query_string, keep_blank_values=True)
        return cls(
            method.upper(), path, query, body, {k.lower(): v for k, v in (headers or {}).items()}
        )

    def json(self) -> dict[str, Any]:
        """The JSON object of the body (POST/PATCH/DELETE) or of the query string (GET).

        MLflow's clients send GET parameters in the query string, repeated keys for lists
        (``experiment_ids=1&experiment_ids=2``); a key given once is a plain value.
        """
        if self.method == "GET" or not self.body:
            return {k: v[0] if len(v) == 1 else v for k, v in self.query.items()}
        try:
            value = json.loads(self.body)
        except (UnicodeDecodeError, ValueError) as error:
            raise ApiError("MALFORMED_REQUEST", f"The request body is not JSON: {error}") from None
        if not isinstance(value, dict):
            raise ApiError("INVALID_PARAMETER_VALUE", "The request body must be a JSON object.")
        return value

    def arg(self, name: str, default: Any = None) -> str | None:
        """A query-string parameter (the first value)."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """What a route answers when it is not a JSON object (a file's bytes, a 204...)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value, separators=(",", ":")).encode())


Handler = Callable[[Store, Request], "dict[str, Any] | Response"]

_EXACT: dict[tuple[str, str], Handler] = {}
_PREFIX: list[tuple[str, str, Handler]] = []
WRITES: set[Handler] = set()
"""Routes that change the store: adapters run them one at a time."""

PREFIXES = ("/api/2.0/", "/ajax-api/2.0/", "/api/3.0/", "/ajax-api/3.0/")


def route(
    method: str, path: str, *, prefix: bool = False, write: bool | None = None
) -> Callable[[Handler], Handler]:
    """Register ``fn`` for ``method`` and ``path`` (``/mlflow/runs/create``: below ``/api/2.0``).

    ``path`` may start with ``/api/3.0`` or ``/api/2.0`` for a route MLflow only serves under
    one version; a bare ``/mlflow/...`` is served under 2.0 (and ``/ajax-api/2.0``). ``write``
    defaults to every method but GET.
    """

    def register(fn: Handler) -> Handler:
        full = path if path.startswith(("/api/", "/ajax-api/")) else "/api/2.0" + path
        if prefix:
            _PREFIX.append((method.upper(), full.rstrip("/") + "/", fn))
        else:
            _EXACT[(method.upper(), full)] = fn
        if write if write is not None else method.upper() != "GET":
            WRITES.add(fn)
        return fn

    return register


def _load_routes() -> None:
    """Import the modules that register routes (once)."""
    from jupyter_mlops.mlflow_api import areas  # noqa: F401 - registers on import


def find(method: str, path: str) -> Handler | None:
    """The route for a request, or ``None``."""
    _load_routes()
    if path.startswith("/ajax-api/"):
        path = path[len("/ajax") :]
    fn = _EXACT.get((method, path))
    if fn is not None:
        return fn
    for verb, start, handler in _PREFIX:
        if verb == method and (path + "/").startswith(start):
            return handler
    return None


def is_write(request: Request) -> bool:
    """Whether the request's route changes the store."""
    fn = find(request.method, request.path)
    return fn is not None and fn in WRITES


def error_response(error_code: str, message: str, status: int | None = None) -> Response:
    """MLflow's error body, with the status MLflow answers ``error_code`` with."""
    body = {"error_code": error_code, "message": message}
    return Response.of_json(body, status or STATUS.get(error_code, 400))


def dispatch(store: Store, request: Request) -> Response:
    """Answer one request; never raises."""
    fn = find(request.method, request.path)
    if fn is None:
        return error_response(
            "ENDPOINT_NOT_FOUND", f"No {request.method} route {request.path} in this MLflow API."
        )
    try:
        result = fn(store, request)
    except ApiError as error:
        return error_response(error.error_code, error.message, error.status)
    except NotFound as error:
        return error_response("RESOURCE_DOES_NOT_EXIST", str(error))
    except InvalidInput as error:
        return error_response("INVALID_PARAMETER_VALUE", str(error))
    except Conflict as error:
        return error_response("INVALID_STATE", str(error))
    except StoreError as error:
        return error_response("TEMPORARILY_UNAVAILABLE", str(error))
    except Exception as error:  # noqa: BLE001 - one line, never a traceback over HTTP
        log.exception("MLflow API %s %s failed", request.method, request.path)
        return error_response("INTERNAL_ERROR", f"{type(error).__name__}: {error}", 500)
    return result if isinstance(result, Response) else Response.of_json(result)
