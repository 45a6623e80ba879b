"""The JupyterLab server extension: JSON routes under ``/jupyter-mlops/api/``.

A thin adapter over the core: each handler reads its input, calls a function of
:mod:`jupyter_mlops.jupyter.server_routes` off the event loop, and writes JSON. Every route is
listed in :data:`ROUTES`, every handler derives from :class:`MlopsHandler` and decorates every
verb with ``tornado.web.authenticated``, and :func:`http_status` is the one place where core
errors become HTTP statuses. This is the only module that imports tornado or jupyter_server.

Store calls block (file locks, journal reads), so they run off the event loop, on three pools:
searches (the runs table, filtered and sorted over every run) on two threads, other reads (one
run, the experiments, models, deployments, drift) on four, so that they never queue behind a
search, and writes (a promotion, a stop) one after another on their own. The embedded store
copies its tables under its lock, so readers of one process may run at once. Every call runs
under a time budget for searches (:func:`jupyter_mlops.tracking.budget.time_budget`), so no
filter keeps a thread, nor the interpreter, for long; and Jupyter's own routes never wait for
ours. Exports, which do not touch the store, run on the default executor.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jupyter_mlops.errors import Conflict, InvalidInput, NotFound, StoreError
from jupyter_mlops.jsonable import loads_object
from jupyter_mlops.jupyter import server_routes as routes
from jupyter_mlops.jupyter.server_routes import OutsideRoot

API_PREFIX = "jupyter-mlops/api"
MLFLOW_PREFIX = "jupyter-mlops/mlflow"


class BodyTooLarge(InvalidInput):
    """A request body over :data:`MAX_BODY_BYTES`."""


# Checked in order. FilterError and SearchTimeout are InvalidInput (400); GateFailed is a
# Conflict (409); a store that cannot be read (damaged, locked, unreadable) is 503.
ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (OutsideRoot, 403),
    (BodyTooLarge, 413),
    (NotFound, 404),
    (InvalidInput, 400),
    (Conflict, 409),
    (StoreError, 503),
)

READ_THREADS = max(1, int(os.environ.get("JUPYTER_MLOPS_READ_THREADS", "4")))
"""Store reads answered at once (1: every read on one thread, one after another, as before)."""
SEARCH_THREADS = min(2, READ_THREADS)
"""Searches answered at once: each is CPU-bound, and more would only share the GIL."""
SEARCH_BUDGET_S = float(os.environ.get("JUPYTER_MLOPS_SEARCH_BUDGET_S", "10"))
"""How long one request's search may run before it answers 400 (``SearchTimeout``)."""
MAX_BODY_BYTES = 1 << 20
"""The largest JSON body a route takes (they hold a name, an alias, a path...)."""

_READERS = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="jupyter-mlops-read")
_SEARCHERS = (
    ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="jupyter-mlops-search")
    if READ_THREADS > 1
    else _READERS
)
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jupyter-mlops-write")
_POOLS = {"read": _READERS, "search": _SEARCHERS, "write": _WRITER}


def http_status(error: BaseException | None) -> int | None:
    """The HTTP status for an error the core raises on purpose; ``None`` for anything else."""
    for error_type, status in ERROR_STATUS:
        if isinstance(error, error_type):
            return status
    return None


def error_body(error: BaseException) -> dict[str, Any]:
    """``{"message": ...}``, plus the gate's ``report`` when a promotion was refused."""
    body: dict[str, Any] = {"message": str(error)}
    report = getattr(error, "report", None)
    if report is not None and hasattr(report, "to_dict"):
        body["report"] = routes.plain(report.to_dict())
    return body


class MlopsHandler(APIHandler):
    """Base of every route: replies are JSON, and core errors become 4xx ``{"message": ...}``."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer a core error with its status and message; leave the rest to Jupyter."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        status = http_status(error)
        if status is None:
            super().write_error(status_code, **kwargs)
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(error_body(error)))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log a core error as one line: it is the caller's mistake, not a server bug."""
        if http_status(value) is None:
            super().log_exception(typ, value, tb)
        else:
            uri = self.request.uri or ""
            shown = uri if len(uri) <= 200 else f"{uri[:200]}… ({len(uri):,} characters)"
            self.log.info("%s %s: %s", self.request.method, shown, value)

    async def store_call(self, fn: Callable[..., Any], *args: Any, pool: str = "read") -> Any:
        """``fn(*args)`` off the event loop on ``pool`` (read, search, write), under the budget."""
        executor = _POOLS[pool]
        return await asyncio.get_running_loop().run_in_executor(executor, _budgeted, fn, args)

    async def reply(
        self, fn: Callable[..., dict[str, Any]], *args: Any, pool: str = "read"
    ) -> None:
        """Answer with the JSON of ``fn(*args)``, computed off the event loop on ``pool``."""
        self.send(await self.store_call(fn, *args, pool=pool))

    def send(self, data: dict[str, Any]) -> None:
        """Write ``data`` as strict JSON (non-finite floats become ``null``)."""
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(routes.plain(data), allow_nan=False, default=str))

    def body_object(self) -> dict[str, Any]:
        """The request's JSON body, which must be a UTF-8 JSON object of at most 1 MiB."""
        return parse_body(self.request.body)


def parse_body(body: bytes) -> dict[str, Any]:
    """A route's JSON body as an object; ``InvalidInput`` naming what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"The request body is {len(body):,} bytes; routes take at most "
            f"{MAX_BODY_BYTES:,} bytes of JSON."
        )
    return loads_object(body)


def _budgeted(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    from jupyter_mlops.tracking.budget import time_budget

    with time_budget(SEARCH_BUDGET_S):
        return fn(*args)


class ExperimentsHandler(MlopsHandler):
    """``GET experiments``: every experiment with its run count."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """List the experiments."""
        await self.reply(routes.experiments)


class RunsHandler(MlopsHandler):
    """``GET runs``: one page of runs matching a filter, in order, with the total count."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """Search runs (``experiment`` and ``order_by`` may repeat)."""
        limit, offset = routes.page_bounds(
            self.get_query_argument("max_results", None) or self.get_query_argument("limit", None),
            self.get_query_argument("offset", None),
        )
        await self.reply(
            routes.runs_page,
            [e for e in self.get_query_arguments("experiment") if e],
            self.get_query_argument("filter", None),
            [o for o in self.get_query_arguments("order_by") if o.strip()],
            limit,
            offset,
            self.get_query_argument("tree", "") in ("1", "true"),
            self.get_query_argument("parent", None) or None,
            pool="search",
        )


class RunHandler(MlopsHandler):
    """``GET runs/<run_id>``: params, metric summaries, tags, datasets, artifacts."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        """One run."""
        await self.reply(routes.run_detail, run_id)


class RunPageHandler(MlopsHandler):
    """``GET runs/<run_id>/page``: everything the run page shows, in one reply."""

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        """The run page's data."""
        await self.reply(routes.run_page, run_id)


class MetricHistoryHandler(MlopsHandler):
    """``GET runs/<run_id>/metrics/<key>``: a metric's every point."""

    @tornado.web.authenticated
    async def get(self, run_id: str, key: str) -> None:
        """One metric's history."""
        await self.reply(routes.metric_history, run_id, key)


class ArtifactHandler(MlopsHandler):
    """``GET runs/<run_id>/artifacts/<path>``: an artifact's bytes (never outside the store)."""

    @tornado.web.authenticated
    async def get(self, run_id: str, path: str) -> None:
        """Download one artifact."""
        local = await self.store_call(routes.artifact_file, run_id, path)
        kind, _ = mimetypes.guess_type(path)
        name = os.path.basename(path).replace('"', "")
        self.set_header("Content-Disposition", f'inline; filename="{name}"')
        self.set_header("X-Content-Type-Options", "nosniff")
        data = await asyncio.to_thread(_read_bytes, local)
        self.finish(data, set_content_type=kind or "application/octet-stream")


class ModelsHandler(MlopsHandler):
    """``GET models``: registered models with their versions and aliases."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """List (optionally filter) the registered models."""
        await self.reply(routes.models, self.get_query_argument("filter", None), pool="search")


class ModelHandler(MlopsHandler):
    """``GET models/<name>``: versions, aliases, alias history and validation reports."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        """One registered model."""
        await self.reply(routes.model_detail, name)


class AliasesHandler(MlopsHandler):
    """``POST models/<name>/aliases``: promote a version through the validation gate."""

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        """Run the gate; 200 with its report, or 409 with the report when it refuses."""
        await self.reply(routes.promote, name, self.body_object(), pool="write")


class DeploymentsHandler(MlopsHandler):
    """``GET deployments``: every deployment with its live status."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """List the deployments."""
        await self.reply(routes.deployments)


class StopDeploymentHandler(MlopsHandler):
    """``POST deployments/<name>/stop``: stop a deployment's model server."""

    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        """Stop it and answer its new status."""
        await self.reply(routes.stop_deployment, name, pool="write")


class DriftHandler(MlopsHandler):
    """``GET drift``: saved drift reports and monitoring windows."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """List the drift reports (optionally those of one ``name``)."""
        await self.reply(routes.drift, self.get_query_argument("name", None))


class ExportHandler(MlopsHandler):
    """``POST export``: a notebook below the server's root → pipeline files."""

    @tornado.web.authenticated
    async def post(self) -> None:
        """Export the notebook and list the files written."""
        root = getattr(self.contents_manager, "root_dir", None) or self.settings.get(
            "server_root_dir", os.getcwd()
        )
        self.send(await asyncio.to_thread(routes.export, root, self.body_object()))


class SweepsHandler(MlopsHandler):
    """``GET sweeps?experiment=NAME``: every sweep with its state and best value."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """List the sweeps."""
        await self.reply(_sweeps, self.get_query_argument("experiment", None))


class SweepHandler(MlopsHandler):
    """``GET sweeps/<name>?experiment=NAME``: a sweep's trials, history and importances."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        """One sweep, running or finished."""
        await self.reply(_sweep, name, self.get_query_argument("experiment", None))


class OpenApiHandler(MlopsHandler):
    """``GET openapi.json``: the OpenAPI 3 document of these routes."""

    @tornado.web.authenticated
    async def get(self) -> None:
        """The document, its server URL below this server's base URL."""
        from jupyter_mlops.jupyter.openapi import document

        self.send(document(self.settings.get("base_url", "/")))


class MlflowApiHandler(MlopsHandler):
    """``/jupyter-mlops/mlflow/<path>``: MLflow's tracking REST API over the store.

    For MLflow clients: ``MLFLOW_TRACKING_URI=<server>/jupyter-mlops/mlflow`` with
    ``MLFLOW_TRACKING_TOKEN`` set to the server's token (sent as ``Authorization: Bearer``).
    The routes are :mod:`jupyter_mlops.mlflow_api`'s; they run on this module's pools.
    """

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def finish(self, *args: Any, **kwargs: Any) -> Any:
        """As Jupyter's, but keep the reply's own Content-Type (artifact bytes, ``/health``'s text).

        Jupyter's API handler sets ``application/json`` on every reply it finishes.
        """
        kwargs.setdefault("set_content_type", self._headers.get("Content-Type", "application/json"))
        return super().finish(*args, **kwargs)

    async def _serve(self, path: str) -> None:
        from jupyter_mlops.mlflow_api.server import answer

        await answer(self, path, _POOLS.__getitem__)

    @tornado.web.authenticated
    async def get(self, path: str) -> None:
        """A read (experiments, runs, history, registry, artifact downloads)."""
        await self._serve(path)

    @tornado.web.authenticated
    async def post(self, path: str) -> None:
        """A write or a search."""
        await self._serve(path)

    @tornado.web.authenticated
    async def put(self, path: str) -> None:
        """An artifact upload."""
        await self._serve(path)

    @tornado.web.authenticated
    async def patch(self, path: str) -> None:
        """A logged model's status or tags, a version's description."""
        await self._serve(path)

    @tornado.web.authenticated
    async def delete(self, path: str) -> None:
        """A tag or an alias removed."""
        await self._serve(path)


def _sweeps(experiment: str | None) -> dict[str, Any]:
    from jupyter_mlops.sweeps.views import list_sweeps

    return {"sweeps": list_sweeps(experiment)}


def _sweep(name: str, experiment: str | None) -> dict[str, Any]:
    from jupyter_mlops.sweeps.views import load_sweep

    return load_sweep(name, experiment).to_dict()


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


_NAME = r"(?P<name>[^/]+)"
_RUN = r"(?P<run_id>[^/]+)"

ROUTES: list[tuple[str, type[MlopsHandler]]] = [
    (r"experiments", ExperimentsHandler),
    (r"runs", RunsHandler),
    (rf"runs/{_RUN}", RunHandler),
    (rf"runs/{_RUN}/page", RunPageHandler),
    (rf"runs/{_RUN}/metrics/(?P<key>.+)", MetricHistoryHandler),
    (rf"runs/{_RUN}/artifacts/(?P<path>.+)", ArtifactHandler),
    (r"models", ModelsHandler),
    (rf"models/{_NAME}", ModelHandler),
    (rf"models/{_NAME}/aliases", AliasesHandler),
    (r"deployments", DeploymentsHandler),
    (rf"deployments/{_NAME}/stop", StopDeploymentHandler),
    (r"drift", DriftHandler),
    (r"export", ExportHandler),
    (r"sweeps", SweepsHandler),
    (rf"sweeps/{_NAME}", SweepHandler),
    (r"openapi.json", OpenApiHandler),
]
"""Each route's path below ``/jupyter-mlops/api/`` (a regex) and its handler."""


def load(server_app: Any) -> None:
    """Register :data:`ROUTES` on the Jupyter server's web application."""
    web_app = server_app.web_app
    base = url_path_join(web_app.settings["base_url"], API_PREFIX)
    handlers = [(url_path_join(base, pattern), handler) for pattern, handler in ROUTES]
    mlflow = url_path_join(web_app.settings["base_url"], MLFLOW_PREFIX, "(.*)")
    web_app.add_handlers(".*$", [*handlers, (mlflow, MlflowApiHandler)])
    server_app.log.info("jupyter_mlops: %d routes under %s", len(handlers), base)
    _READERS.submit(_warm_up, server_app.log)


def _warm_up(log: Any) -> None:
    """Import what the routes call and read the store once, while JupyterLab loads.

    Otherwise the side bar's first requests pay for it (pandas alone is about a second).
    """
    try:
        import jupyter_mlops.monitoring.report  # noqa: F401 - pandas, numpy
        import jupyter_mlops.registry.gate  # noqa: F401
        import jupyter_mlops.serving.deploy  # noqa: F401
        import jupyter_mlops.tracking.search  # noqa: F401

        routes.experiments()
    except Exception as error:  # a broken store shows on the first request, with its message
        log.debug("jupyter_mlops: warm-up skipped: %s", error)
