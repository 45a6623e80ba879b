"""Deployment documents: one per model server started by ``deploy`` or ``jupyter mlops serve``.

Table ``deployments`` [the deployment's name]: :class:`DeploymentDoc`. Its ``state`` moves
``starting → running → stopped`` (or ``failed``); ``versions`` lists every version it served
(an alias it follows may move), ``last_metrics`` what it had served when it was stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.entities._doc import from_doc, to_doc

TABLE = "deployments"
STATES = ("starting", "running", "stopped", "failed")
UPDATABLE = ("state", "stop_time", "last_metrics")


@dataclass(frozen=True)
class DeploymentDoc:
    """A model server as recorded: what it serves, where, and its process."""

    name: str
    model_uri: str = ""
    version: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    url: str = ""
    pid: int | None = None
    proc_start: Any = None
    host_name: str = ""
    start_time: int = 0
    state: str = "starting"
    versions: list[dict[str, Any]] = field(default_factory=list)
    log_file: str | None = None
    on_violation: str | None = None
    started_by: str | None = None
    stop_time: int | None = None
    last_metrics: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name

    def to_doc(self) -> dict[str, Any]:
        return {k: v for k, v in to_doc(self).items() if v is not None or k in _KEEP_NONE}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> DeploymentDoc:
        return from_doc(cls, doc, versions=[])


_KEEP_NONE = ("version", "pid", "log_file", "proc_start")
