"""What every route of the MLflow-compatible API is made of: requests, replies, errors, routes.

This module imports nothing else of ``mlflow_api``: the route modules (:mod:`.tracking`,
:mod:`.registry`, :mod:`.artifacts`, :mod:`.logged_models`) import it to declare their routes
with :func:`route`, and :mod:`.dispatch` imports them all.

Errors are MLflow's: ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}`` with the
HTTP status MLflow's server gives that code (:data:`STATUS`). The core's errors map onto them in
:func:`api_error`, so every route answers a caller's mistake with a 4xx, never a 500.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import Conflict, InvalidInput, MlopsError, NotFound, StoreError
from jupyter_mlops.jsonable import loads_object

STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "PERMISSION_DENIED": 403,
    "REQUEST_LIMIT_EXCEEDED": 413,
    "TEMPORARILY_UNAVAILABLE": 503,
}
"""MLflow's error codes and the status its server answers each with.

One difference: a body over a limit is ``REQUEST_LIMIT_EXCEEDED`` with 413, where MLflow's table
says 429 for the code — its client retries a 429 with back-off, and the same body would only be
refused again.
"""

MAX_JSON_BYTES = 16 * 1024 * 1024
"""The largest JSON body a route takes (a log-batch of 1,000 long tags is about 8 MiB)."""


class ApiError(MlopsError):
    """A request refused with one of MLflow's error codes."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.status = STATUS.get(code, 400)

    def body(self) -> dict[str, str]:
        return {"error_code": self.code, "message": str(self)}


def api_error(error: BaseException) -> ApiError | None:
    """The API error for an error the core raises on purpose; ``None`` for a bug."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, NotFound):
        return ApiError("RESOURCE_DOES_NOT_EXIST", str(error))
    if isinstance(error, (InvalidInput, Conflict)):  # MLflow refuses a changed param with this
        return ApiError("INVALID_PARAMETER_VALUE", str(error))
    if isinstance(error, StoreError):
        return ApiError("TEMPORARILY_UNAVAILABLE", str(error))
    return None


@dataclass
class Request:
    """One HTTP request, as the routes see it: ``path`` is below the API's mount point."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    """Parts of the path a route's pattern named (``{model_id}``)."""
    body_file: str | None = None
    """The body already on disk (the standalone server streams artifact uploads there)."""
    _json: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (an empty body is ``{}``)."""
        if self._json is None:
            if len(self.body) > MAX_JSON_BYTES:
                raise ApiError(
                    "REQUEST_LIMIT_EXCEEDED",
                    f"The request body is {len(self.body):,} bytes; JSON routes take at most "
                    f"{MAX_JSON_BYTES:,}.",
                )
            self._json = loads_object(self.body)
        return self._json

    def get(self, name: str, default: Any = None) -> Any:
        """A field of the JSON body, else of the query string (GET routes send it there)."""
        if self.method != "GET" or self.body:
            value = self.json().get(name)
            if value is not None:
                return value
        values = self.query.get(name)
        if values:
            return values[0]
        return default

    def get_list(self, name: str) -> list[Any]:
        """A repeated field: a JSON list, or every value of the query string."""
        if self.method != "GET" or self.body:
            value = self.json().get(name)
            if value is not None:
                return value if isinstance(value, list) else [value]
        return list(self.query.get(name, []))

    def text(self, name: str, required: bool = True, limit: int = 100_000) -> str:
        """A string field; ``INVALID_PARAMETER_VALUE`` when it is missing or not a string."""
        value = self.get(name)
        if value is None or value == "":
            if required:
                raise ApiError(
                    "INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'."
                )
            return ""
        if not isinstance(value, str):
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Invalid value {_short(value)} for parameter '{name}' supplied: "
                "it must be a string.",
            )
        if len(value) > limit:
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Parameter '{name}' is {len(value):,} characters; at most {limit:,} are taken.",
            )
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An integer field (JSON number or digits); ``INVALID_PARAMETER_VALUE`` otherwise."""
        value = self.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Parameter '{name}' must be an integer, not {_short(value)}.",
            )
        text = str(value).strip()
        if not re.fullmatch(r"-?\d{1,19}", text):
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Parameter '{name}' must be an integer, not {_short(value)}.",
            )
        return int(text)


@dataclass
class Response:
    """A reply: JSON (``data``) or bytes (``body``), or the file at ``file`` streamed."""

    data: dict[str, Any] | None = None
    status: int = 200
    body: bytes | None = None
    file: str | None = None
    content_type: str = "application/json"

    def payload(self) -> bytes:
        """The bytes of a JSON or bytes reply (not of a file)."""
        if self.body is not None:
            return self.body
        return json.dumps(self.data or {}, separators=(",", ":"), default=str).encode()


Handler = Callable[[Request], "dict[str, Any] | Response"]


@dataclass(frozen=True)
class Route:
    """One declared route: its method, path pattern and handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    writes: bool
    template: str


ROUTES: list[Route] = []
"""Every route, in the order the modules declared them (first match wins)."""


def route(method: str, template: str, writes: bool | None = None) -> Callable[[Handler], Handler]:
    """Declare ``handler`` for ``method`` on ``template`` (``{name}``; ``{path+}`` spans ``/``).

    ``writes``: the route changes the store (serialized with the other writes); by default
    every method but GET.
    """

    def register(handler: Handler) -> Handler:
        write = method != "GET" if writes is None else writes
        ROUTES.append(Route(method, _pattern(template), handler, write, template))
        return handler

    return register


def _pattern(template: str) -> re.Pattern[str]:
    parts = []
    for part in re.split(r"(\{\w+\+?\})", template):
        named = re.fullmatch(r"\{(\w+)(\+?)\}", part)
        if named:
            parts.append(f"(?P<{named[1]}>{'.+' if named[2] else '[^/]+'})")
        else:
            parts.append(re.escape(part))
    return re.compile("^" + "".join(parts) + "$")


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method path`` and the parts its pattern named; ``ApiError`` when none."""
    allowed = []
    for candidate in ROUTES:
        match = candidate.pattern.match(path)
        if match is None:
            continue
        if candidate.method == method:
            return candidate, match.groupdict()
        allowed.append(candidate.method)
    if allowed:
        raise ApiError(
            "ENDPOINT_NOT_FOUND",
            f"{path} takes {', '.join(sorted(set(allowed)))}, not {method}.",
        )
    raise ApiError(
        "ENDPOINT_NOT_FOUND",
        f"No MLflow API endpoint {method} {path} here: jupyter_mlops serves MLflow's tracking, "
        "registry, logged-model and artifact routes (docs/mlflow-server.md lists them).",
    )


# -- pages -------------------------------------------------------------------------------------
def page(
    items: list[Any],
    request: Request,
    key: str,
    render: Callable[[Any], Any],
    default: int,
    most: int,
) -> dict[str, Any]:
    """One page of ``items`` (``max_results``, ``page_token``) as MLflow's reply.

    ``{key: [render(item), ...]}``, with ``next_page_token`` when more items follow (MLflow's
    server leaves the empty token out).
    """
    size = request.integer("max_results", default)
    if size is None or size < 1:
        raise ApiError(
            "INVALID_PARAMETER_VALUE", f"max_results must be a positive integer, not {size}."
        )
    if size > most:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid value {size} for parameter 'max_results' supplied: "
            f"it must be at most {most}.",
        )
    offset = _offset(request.get("page_token"))
    end = offset + size
    reply: dict[str, Any] = {key: [render(item) for item in items[offset:end]]}
    if end < len(items):
        reply["next_page_token"] = _token(end)
    return reply


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: Any) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(str(token).encode()))["offset"]
    except (ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid page token {_short(token)}: pass the next_page_token of the previous page.",
        )
    return offset


# -- values ------------------------------------------------------------------------------------
def key_values(items: Any, what: str) -> list[tuple[str, str]]:
    """``[{"key", "value"}]`` as pairs; ``INVALID_PARAMETER_VALUE`` for anything else."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ApiError(
            "INVALID_PARAMETER_VALUE", f"'{what}' must be a list of {{key, value}} objects."
        )
    pairs = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ApiError(
                "INVALID_PARAMETER_VALUE",
                f"Each of '{what}' needs a string 'key', not {_short(item)}.",
            )
        value = item.get("value", "")
        pairs.append((item["key"], "" if value is None else str(value)))
    return pairs


def as_key_values(mapping: dict[str, Any]) -> list[dict[str, str]]:
    """``{k: v}`` as MLflow's ``[{key, value}]`` list."""
    return [{"key": k, "value": str(v)} for k, v in mapping.items()]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
