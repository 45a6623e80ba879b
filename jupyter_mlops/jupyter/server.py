"""The JupyterLab server extension: JSON routes under ``/jupyter-mlops/api/``.

A thin adapter over the core: each handler reads its input, calls the store, and writes JSON.
Every route is listed in :data:`ROUTES`, every handler derives from :class:`MlopsHandler` and
decorates every verb with ``tornado.web.authenticated``, and :func:`http_status` is the one place
where core errors become HTTP statuses. This is the only module that imports tornado or
jupyter_server.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.store import get_store

API_PREFIX = "jupyter-mlops/api"

# Checked in order. FilterError is an InvalidInput, so it maps to 400 as well.
ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (InvalidInput, 400),
    (Conflict, 409),
)


def http_status(error: BaseException | None) -> int | None:
    """The HTTP status for an error the core raises on purpose; ``None`` for anything else."""
    for error_type, status in ERROR_STATUS:
        if isinstance(error, error_type):
            return status
    return None


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
        self.finish(json.dumps({"message": str(error)}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log a core error as one line: it is the caller's mistake, not a server bug."""
        if http_status(value) is None:
            super().log_exception(typ, value, tb)
        else:
            self.log.info("%s %s: %s", self.request.method, self.request.uri, value)


class ExperimentsHandler(MlopsHandler):
    """``GET experiments``: every experiment with its run count."""

    @tornado.web.authenticated
    def get(self) -> None:
        """List the experiments."""
        self.finish({"experiments": get_store().list_experiments()})


ROUTES: list[tuple[str, type[MlopsHandler]]] = [
    (r"experiments", ExperimentsHandler),
]
"""Each route's path below ``/jupyter-mlops/api/`` (a regex) and its handler."""


def load(server_app: Any) -> None:
    """Register :data:`ROUTES` on the Jupyter server's web application."""
    web_app = server_app.web_app
    base = url_path_join(web_app.settings["base_url"], API_PREFIX)
    handlers = [(url_path_join(base, pattern), handler) for pattern, handler in ROUTES]
    web_app.add_handlers(".*$", handlers)
    server_app.log.info("jupyter_mlops: %d routes under %s", len(handlers), base)
