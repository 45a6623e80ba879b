"""Registry documents: registered models, model versions, aliases and every alias move.

Tables (keys in brackets):

- ``registered_models`` [name]: :class:`RegisteredModelDoc`;
- ``model_versions`` [``<name>/<version>``]: :class:`ModelVersionDoc`;
- ``aliases`` [``<name>@<alias>``]: :class:`AliasDoc`;
- ``alias_history`` [a random ``move_id``]: :class:`AliasMove`, one per move (from, to, when,
  who, why, forced), so "which version held ``production`` at time T" is a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_mlops.entities._doc import from_doc, to_doc

MODELS = "registered_models"
VERSIONS = "model_versions"
ALIASES = "aliases"
ALIAS_HISTORY = "alias_history"
TABLES = (MODELS, VERSIONS, ALIASES, ALIAS_HISTORY)
READY, ARCHIVED = "READY", "ARCHIVED"
REPORT_FIELDS = ("validations", "evaluations")
"""The lists of reports a version keeps (``Store.add_version_report``)."""


def version_key(name: str, version: int) -> str:
    """The document id of a model version: ``<name>/<version>``."""
    return f"{name}/{version}"


def alias_key(name: str, alias: str) -> str:
    """The document id of an alias: ``<name>@<alias>``."""
    return f"{name}@{alias}"


@dataclass(frozen=True)
class RegisteredModelDoc:
    """A model name: its description, tags and times (ms)."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int = 0
    last_updated: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name

    def to_doc(self) -> dict[str, Any]:
        return to_doc(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RegisteredModelDoc:
        return from_doc(cls, doc, description="", tags={})


@dataclass(frozen=True)
class ModelVersionDoc:
    """One version: the run and artifact it points to, their sha256, and what it was checked by.

    ``validations`` are the promotion gate's reports (every one), ``evaluations`` the newest
    evaluation reports (``jupyter_mlops.evaluate`` on its ``models:/`` URI).

    ``version`` is 0 until the store numbers it (:meth:`Store.create_model_version`).
    """

    name: str
    run_id: str
    source: str
    version: int = 0
    artifact_path: str = "model"
    sha256: str = ""
    status: str = READY
    flavor: str = "python"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    input_example: Any = None
    reference: dict[str, Any] | None = None
    creation_time: int = 0
    lineage: dict[str, Any] = field(default_factory=dict)
    validations: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    contract: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return version_key(self.name, self.version)

    def numbered(self, version: int) -> ModelVersionDoc:
        """The same version with its number set."""
        return replace(self, version=version)

    def to_doc(self) -> dict[str, Any]:
        return to_doc(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ModelVersionDoc:
        return from_doc(
            cls, doc, status=READY, flavor="python", description="", tags={}, lineage={},
            validations=[], evaluations=[], artifact_path="model", sha256="", creation_time=0,
        )  # fmt: skip


@dataclass(frozen=True)
class AliasDoc:
    """Where an alias points now."""

    name: str
    alias: str
    version: int

    @property
    def key(self) -> str:
        return alias_key(self.name, self.alias)

    def to_doc(self) -> dict[str, Any]:
        return to_doc(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AliasDoc:
        return from_doc(cls, {k: doc[k] for k in ("name", "alias", "version")})


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias (``to_version`` is ``None`` when it was deleted)."""

    move_id: str
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    time: int
    user: str = ""
    reason: str = ""
    forced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.move_id

    def to_doc(self) -> dict[str, Any]:
        doc = to_doc(self)
        del doc["move_id"]  # the document id
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], move_id: str = "") -> AliasMove:
        return from_doc(cls, {**doc, "move_id": move_id or doc.get("move_id", "")})
