"""The model registry: named models, numbered versions, aliases and every alias move.

The documents and their tables are defined in :mod:`jupyter_mlops.entities.registry`; this
module writes them only through the store's named operations (``create_model_version``,
``set_alias``, ``delete_alias``, ...), which number versions and record every alias move
atomically on the embedded store and map to MLflow's registry on the MLflow backend. Model URIs
are resolved by :mod:`jupyter_mlops.store.refs`. Alias rules follow MLflow's.
"""

from __future__ import annotations

import getpass
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.entities.registry import READY, ModelVersionDoc
from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.store import get_store, refs
from jupyter_mlops.store.ops import missing_model, missing_version
from jupyter_mlops.tracking import fluent
from jupyter_mlops.tracking.models import log_model, read_descriptor

ALIAS_RE = re.compile(r"^[\w-]+$")
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
NAME_RE = re.compile(r"^[\w][\w .-]{0,254}$")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    run_id: str
    source: str
    sha256: str
    status: str = "READY"
    flavor: str = "python"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    signature: dict[str, Any] | None = None
    input_example: Any = None
    creation_time: int = 0
    lineage: dict[str, Any] = field(default_factory=dict)
    validations: list[dict[str, Any]] = field(default_factory=list)
    contract: dict[str, Any] | None = None

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    """A model name with its versions' summary and aliases."""

    name: str
    description: str
    tags: dict[str, str]
    latest_version: int | None
    versions: list[int]
    aliases: dict[str, int]
    creation_time: int
    last_updated: int


def register_model(
    model_or_uri: Any,
    name: str,
    tags: dict[str, Any] | None = None,
    description: str | None = None,
    input_example: Any = None,
    reference_data: Any = None,
    contract: Any = None,
) -> ModelVersion:
    """Register a model object or a ``runs:/<run_id>/<path>`` URI as the next version of ``name``.

    A model object is first logged with a run (the active one, or a new ``register-<name>`` run);
    if it was already logged (e.g. by autologging) that artifact and its run are reused, so the
    version's lineage points at the training run.

    The version keeps the data contract its model recorded (profiled from all of
    ``reference_data``), or ``contract`` (a DataContract, or data to profile) when given.
    """
    check_model_name(name)
    uri = model_or_uri
    if not isinstance(model_or_uri, str):
        uri, logged_here = _log_object(model_or_uri, name, input_example, reference_data, contract)
        contract = None if logged_here else contract  # log_model recorded it already
    if not uri.startswith(refs.RUNS):
        raise InvalidInput(
            f"register_model takes a model object or a runs:/<run_id>/<path> URI, not {uri!r}."
        )
    run_id, path = refs.parse_runs_uri(uri)
    store = get_store()
    run = store.get_run(run_id)
    descriptor = read_descriptor(run_id, path)
    record = run.get("artifacts", {}).get(f"{path}/{descriptor.get('model_file', 'model.pkl')}")
    if record is None:
        raise NotFound(f"Run {run_id} has no model file under {path!r}.")
    doc = ModelVersionDoc(
        name=name,
        run_id=run_id,
        source=f"runs:/{run_id}/{path}",
        artifact_path=path,
        sha256=record["sha256"],
        flavor=descriptor.get("flavor", "python"),
        description=description or "",
        tags=fluent._stringify(tags or {}, "tag"),
        signature=descriptor.get("signature"),
        input_example=descriptor.get("input_example"),
        reference=descriptor.get("reference"),
        creation_time=_now_ms(),
        lineage=lineage_of(run, descriptor),
        contract=_contract_entry(store, run_id, path, descriptor, contract),
    )
    created = store.create_model_version(doc)
    return get_model_version(name, created.version)


def _log_object(
    model: Any, name: str, input_example: Any, reference_data: Any, contract: Any
) -> tuple[str, bool]:
    """The model's ``runs:/`` URI, and whether this call logged it (else autolog had)."""
    from jupyter_mlops.tracking.models import logged_uri_of

    known = logged_uri_of(model)
    if known:
        return known, False
    if fluent.active_run() is not None:
        return log_model(model, "model", input_example, reference_data, contract), True
    with fluent.start_run(name=f"register-{name}"):
        return log_model(model, "model", input_example, reference_data, contract), True


def _contract_entry(
    store: Any, run_id: str, path: str, descriptor: dict[str, Any], contract: Any
) -> dict[str, Any] | None:
    """The version's data contract: the model's own, or ``contract`` recorded beside it."""
    recorded = descriptor.get("contract")
    if contract is None:
        return recorded

    from jupyter_mlops.contracts.record import record_contract

    return record_contract(
        store, run_id, f"{path}/contracts/{uuid.uuid4().hex[:12]}.yaml", contract
    )


def lineage_of(run: dict[str, Any], descriptor: dict[str, Any]) -> dict[str, Any]:
    """What the version came from: run, metrics, params, datasets, git commit, packages."""
    tags = run.get("tags", {})
    return {
        "run_id": run["run_id"],
        "run_name": run.get("run_name"),
        "experiment_id": run.get("experiment_id"),
        "metrics": {k: m.get("last") for k, m in run.get("metrics", {}).items()},
        "params": dict(run.get("params", {})),
        "datasets": [
            {k: d.get(k) for k in ("name", "digest", "context", "rows")}
            for d in run.get("datasets", [])
        ],
        "git_commit": tags.get("mlops.source.git.commit"),
        "notebook": tags.get("mlops.source.name"),
        "python_version": descriptor.get("python_version"),
        "library_versions": descriptor.get("library_versions", {}),
    }


def check_model_name(name: Any) -> None:
    """Model names: a word character first, then letters, digits, ``_ - . space``; ≤ 255."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"Invalid model name {name!r}: use letters, digits, '_', '-', '.' or spaces "
            "(at most 255 characters), e.g. 'churn-classifier'."
        )


# -- reading ----------------------------------------------------------------------------------
def get_model_version(name: str, version: int | str) -> ModelVersion:
    """One version; ``NotFound`` lists the versions that exist."""
    number = _version_number(version)
    store = get_store()
    doc = store.get_model_version(name, number)
    if doc is None:
        raise missing_version(name, number, _versions_of(name))
    return _to_version(doc, _aliases_of(name))


def _version_number(version: Any) -> int:
    return refs.version_number(version)


def _versions_of(name: str) -> list[int]:
    return [v.version for v in get_store().list_model_versions(name)]


def _aliases_of(name: str) -> dict[str, int]:
    return {a.alias: a.version for a in get_store().list_aliases(name)}


def _to_version(doc: ModelVersionDoc, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=doc.name,
        version=doc.version,
        run_id=doc.run_id,
        source=doc.source,
        sha256=doc.sha256,
        status=doc.status,
        flavor=doc.flavor,
        description=doc.description,
        tags=dict(doc.tags),
        aliases=sorted(a for a, v in aliases.items() if v == doc.version),
        signature=doc.signature,
        input_example=doc.input_example,
        creation_time=doc.creation_time,
        lineage=dict(doc.lineage),
        validations=list(doc.validations),
        contract=doc.contract,
    )


def list_versions(name: str) -> list[ModelVersion]:
    """Every version of ``name``, oldest first."""
    store = get_store()
    if store.get_registered_model(name) is None:
        raise missing_model(name)
    aliases = _aliases_of(name)
    return [_to_version(v, aliases) for v in store.list_model_versions(name)]


def search_models(filter: str | None = None) -> list[RegisteredModel]:  # noqa: A002
    """Registered models, optionally filtered (``name LIKE 'churn%'``, ``tags.team = 'a'``)."""
    from jupyter_mlops.tracking.search import compile_filter

    predicate = compile_filter(_model_filter(filter))
    store = get_store()
    versions = store.list_model_versions()
    aliases = store.list_aliases()
    found = []
    for model in store.list_registered_models():
        name = model.name
        if not predicate({"run_name": name, "tags": model.tags}):
            continue
        numbers = sorted(v.version for v in versions if v.name == name)
        live = [v.version for v in versions if v.name == name and v.status == READY]
        found.append(
            RegisteredModel(
                name=name,
                description=model.description,
                tags=dict(model.tags),
                latest_version=max(live, default=None),
                versions=numbers,
                aliases={a.alias: a.version for a in aliases if a.name == name},
                creation_time=model.creation_time,
                last_updated=model.last_updated,
            )
        )
    return found


def _model_filter(text: str | None) -> str | None:
    """Let model filters say ``name`` for ``attributes.name``, as MLflow's do."""
    if not text:
        return text
    return re.sub(
        r"(?<![\w.`\"'])name(?=\s*(=|!=|<>|like|ilike|in|is|not)\b|\s*[=!<>])",
        "attributes.name",
        text,
        flags=re.IGNORECASE,
    )


# -- editing ----------------------------------------------------------------------------------
def update_model_version(
    name: str,
    version: int | str,
    description: str | None = None,
    tags: dict[str, Any] | None = None,
) -> ModelVersion:
    """Change a version's description and add or overwrite its tags."""
    number = _version_number(version)
    get_store().update_model_version(
        name,
        number,
        description=None if description is None else str(description),
        tags=fluent._stringify(tags, "tag") if tags else None,
    )
    return get_model_version(name, number)


def archive_model_version(name: str, version: int | str) -> ModelVersion:
    """Mark a version ARCHIVED (it keeps its number; it can no longer hold aliases)."""
    number = _version_number(version)
    get_store().archive_model_version(name, number)
    return get_model_version(name, number)


def record_validation(name: str, version: int | str, report: dict[str, Any]) -> None:
    """Append a validation report (the gate's ``ValidationReport.to_dict()``) to a version."""
    get_store().add_validation(name, _version_number(version), report)


def record_evaluation(
    name: str, version: int | str, report: dict[str, Any], keep: int | None = None
) -> None:
    """Append an evaluation report to a version (only the newest ``keep`` stay)."""
    get_store().add_version_report(name, _version_number(version), report, "evaluations", keep)


# -- aliases ----------------------------------------------------------------------------------
def check_alias(alias: Any) -> str:
    """MLflow's rules: word characters and ``-``, ≤ 255 long, ``latest``/``v<n>`` reserved."""
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or len(alias) > 255:
        raise InvalidInput(
            f"Invalid alias {alias!r}: use letters, digits, '_' or '-' (at most 255 "
            "characters), e.g. 'production' or 'champion'."
        )
    if RESERVED_ALIAS.match(alias):
        raise InvalidInput(
            f"The alias {alias!r} is reserved (latest and v<number> are): pick another."
        )
    return alias


def set_alias(
    name: str, alias: str, version: int | str, reason: str | None = None, forced: bool = False
) -> None:
    """Point ``alias`` at ``version`` (moving it from another version), recording the move."""
    check_alias(alias)
    get_store().set_alias(
        name,
        alias,
        _version_number(version),
        time=_now_ms(),
        user=_user(),
        reason=reason or "",
        forced=forced,
    )


def delete_alias(name: str, alias: str, reason: str | None = None) -> None:
    """Remove ``alias`` from ``name`` (recorded in the history as a move to no version)."""
    get_store().delete_alias(name, alias, time=_now_ms(), user=_user(), reason=reason or "")


def alias_history(name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every move of the model's aliases (or one alias), oldest first."""
    moves = get_store().list_alias_moves(name)
    return [m.to_doc() for m in moves if alias is None or m.alias == alias]


def alias_holder(name: str, alias: str, at: Any = None) -> int | None:
    """Which version held ``alias`` at time ``at`` (ms, datetime or ISO text; default: now)."""
    when = _to_ms(at)
    holder = None
    for move in alias_history(name, alias):
        if move["time"] > when:
            break
        holder = move["to_version"]
    return holder


def _to_ms(at: Any) -> int:
    if at is None:
        return _now_ms() + 1
    if isinstance(at, (int, float)):
        return int(at)
    import pandas as pd

    try:
        stamp = pd.Timestamp(at)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"Cannot read {at!r} as a time: use ms since the epoch or ISO text."
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.timestamp() * 1000)


# -- model URIs -------------------------------------------------------------------------------
def resolve_model_uri(uri: str) -> ModelVersion:
    """The version a ``models:/name/<version|latest>`` or ``models:/name@alias`` URI means."""
    found = refs.resolve_version(get_store(), uri)
    return _to_version(found, _aliases_of(found.name))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _now_ms() -> int:
    return int(time.time() * 1000)
