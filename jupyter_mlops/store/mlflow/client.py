"""MLflow's client, our retries and our errors: the base every part of the backend builds on.

MLflow's client is imported only here (and only when an ``mlflow+`` store is opened). Its own
retries wait for minutes on a dead server; ours give up after 2 (``_CLIENT_ENV``, unless the
user set MLflow's variables) and the tracking buffer retries later. Every call goes through
:meth:`MlflowBase._call`, which turns MLflow's errors into ours (``NotFound``, ``Conflict``,
``InvalidInput``, one ``StoreError`` naming the server when it cannot be reached).
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

from jupyter_mlops.errors import Conflict, InvalidInput, NotFound, StoreError
from jupyter_mlops.store.base import Store

PREFIX = "mlflow+"
INTERNAL_EXPERIMENT = "_jupyter_mlops"
"""Where documents and record streams live; hidden from every list of experiments."""
PAGE = 50_000  # the most runs MLflow returns per search page
PARAMS_TAGS_PER_BATCH = 100
_UNREAD = object()
_UNREACHABLE = re.compile(
    r"connection refused|max retries exceeded|failed to establish|timed out|name or service",
    re.IGNORECASE,
)
# MLflow's own client retries a dead server for minutes; ours gives up sooner and retries later.
_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def mlflow_module() -> Any:
    """``mlflow``, or one message saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise InvalidInput(
            "The mlflow+ store needs MLflow's client: pip install mlflow-skinny (the [mlflow] "
            "extra of jupyter_mlops), or unset JUPYTER_MLOPS_STORE to use the embedded store."
        ) from None
    return mlflow


class MlflowBase(Store):
    """The client, its settings and the error mapping shared by the backend's parts."""

    remote = True
    metric_batch = 50_000  # the buffer's share per call; this store batches and sends it

    def __init__(self, uri: str) -> None:
        if not uri.startswith(PREFIX) or not uri[len(PREFIX) :]:
            raise InvalidInput(
                f"An MLflow store URI looks like mlflow+http://host:5000, not {uri!r}."
            )
        for key, value in _CLIENT_ENV.items():
            os.environ.setdefault(key, value)
        mlflow = mlflow_module()
        self.uri = uri
        self.tracking_uri = uri[len(PREFIX) :]
        self.client = mlflow.MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
        )
        self._lock = threading.RLock()  # transactions, internal-run creation
        self._host = socket.gethostname()
        self._creds: Any = _UNREAD

    def __repr__(self) -> str:
        return f"MlflowStore({self.uri!r})"

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with MLflow's errors turned into ours."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as e:
            raise self._error(what, e) from None
        except OSError as e:  # connection refused, timeouts (requests' errors are OSErrors)
            raise self._unreachable(what, e.__class__.__name__) from None

    def _error(self, what: str, e: Any) -> Exception:
        code = getattr(e, "error_code", "")
        message = str(getattr(e, "message", e)).splitlines()[0][:500]
        if code == "RESOURCE_DOES_NOT_EXIST":
            return NotFound(f"{what}: {message}")
        if code == "RESOURCE_ALREADY_EXISTS":
            return Conflict(f"{what}: {message}")
        if code == "INVALID_PARAMETER_VALUE":
            return InvalidInput(f"{what}: {message}")
        unreachable = _UNREACHABLE.search(message)
        if unreachable:
            return self._unreachable(what, unreachable.group(0))
        return StoreError(f"{what} failed on the MLflow server {self.tracking_uri}: {message}")

    def _unreachable(self, what: str, why: str) -> StoreError:
        return StoreError(
            f"{what}: cannot reach the MLflow server {self.tracking_uri} ({why.lower()}). "
            "Is it running? Start it with `mlflow server`, or unset JUPYTER_MLOPS_STORE to "
            "work on the embedded store (and `jupyter mlops sync` later)."
        )

    def _paged(self, page: Callable[[str | None], Any], what: str) -> list[Any]:
        """Every item of a paged MLflow search (``page(token)`` gives one page)."""
        out: list[Any] = []
        token = None
        while True:
            result = self._call(what, page, token)
            out.extend(result)
            token = getattr(result, "token", None)
            if not token:
                return out

    def _host_creds(self) -> Any:
        """:meth:`_read_host_creds`, read once per store (a credentials file is not re-read)."""
        if self._creds is _UNREAD:
            self._creds = self._read_host_creds()
        return self._creds

    def _read_host_creds(self) -> Any:
        """Credentials for MLflow's REST API, from MLflow's variables; ``None`` off HTTP(S).

        These are what MLflow's client reads (``MLFLOW_TRACKING_USERNAME`` and ``..._PASSWORD``
        or ``~/.mlflow/credentials``, ``..._TOKEN``, ``..._INSECURE_TLS``, the certificate
        paths...), gathered with MLflow's public helpers rather than read off the client's
        private store.
        """
        if not self.tracking_uri.startswith(("http://", "https://")):
            return None
        from mlflow.utils.credentials import read_mlflow_creds
        from mlflow.utils.rest_utils import MlflowHostCreds

        env = os.environ.get
        creds = read_mlflow_creds()  # the variables, else ~/.mlflow/credentials
        return MlflowHostCreds(
            host=self.tracking_uri,
            username=creds.username,
            password=creds.password,
            token=env("MLFLOW_TRACKING_TOKEN"),
            aws_sigv4=_flag(env("MLFLOW_TRACKING_AWS_SIGV4")),
            auth=env("MLFLOW_TRACKING_AUTH"),
            ignore_tls_verification=_flag(env("MLFLOW_TRACKING_INSECURE_TLS")),
            client_cert_path=env("MLFLOW_TRACKING_CLIENT_CERT_PATH"),
            server_cert_path=env("MLFLOW_TRACKING_SERVER_CERT_PATH"),
        )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")
