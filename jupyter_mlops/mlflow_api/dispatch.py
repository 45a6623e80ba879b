"""One request in, one reply out: the routes of every area, MLflow's errors, one write at a time.

Both servers (the Jupyter server extension's ``/jupyter-mlops/mlflow/`` and the standalone
``jupyter mlops server``) call :func:`handle` off their event loop. Writes run one after another
(:data:`WRITES`), so two clients logging to one run never interleave a read-modify-write of the
store; reads run beside them. Every call runs under the search time budget, so no filter holds a
thread for long. A core error becomes MLflow's JSON error with its 4xx status; anything else is a
bug and is raised for the server to log and answer 500.
"""

from __future__ import annotations

import os
import threading

# the route modules declare their routes on import
from jupyter_mlops.mlflow_api import (  # noqa: F401
    artifacts,
    logged_models,
    openapi,
    registry,
    tracking,
)
from jupyter_mlops.mlflow_api.api import ApiError, Request, Response, api_error, find_route

WRITES = threading.Lock()
SEARCH_BUDGET_S = float(os.environ.get("JUPYTER_MLOPS_SEARCH_BUDGET_S", "10"))
SEARCHES = {"/api/2.0/mlflow/runs/search"}


def kind(method: str, path: str) -> str:
    """``"write"``, ``"search"`` or ``"read"``: which pool a server should run the request on."""
    if path in SEARCHES:
        return "search"
    try:
        found, _ = find_route(method, path)
    except ApiError:  # answered by handle(), on any pool
        return "read"
    return "write" if found.writes else "read"


def handle(
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: bytes,
    body_file: str | None = None,
) -> Response:
    """The reply to one request; ``path`` is below the mount point (``/api/2.0/...``).

    ``body_file`` is a body already written to disk (an artifact upload), in place of ``body``.
    """
    from jupyter_mlops.tracking.budget import time_budget

    try:
        found, params = find_route(method, path)
        request = Request(method, path, query, body, params, body_file=body_file)
        with time_budget(SEARCH_BUDGET_S):
            if found.writes:
                with WRITES:
                    result = found.handler(request)
            else:
                result = found.handler(request)
    except Exception as error:
        refused = api_error(error)
        if refused is None:
            raise
        return Response(data=refused.body(), status=refused.status)
    return result if isinstance(result, Response) else Response(data=result)
