"""The model registry: named models, numbered versions, aliases and every alias move.

Tables in the store:

- ``registered_models``: ``{name: {name, description, tags, creation_time, last_updated}}``
- ``model_versions``: ``{"<name>/<version>": {...}}`` — the run and artifact it points to, the
  artifact's sha256, signature, input example, status (READY or ARCHIVED), tags, lineage and
  validation reports;
- ``aliases``: ``{"<name>@<alias>": {name, alias, version}}``;
- ``alias_history``: one document per move (alias, from, to, when, who, why, forced), so
  "which version held ``production`` at time T" is a lookup, not a guess.

Version numbers are allocated inside a store transaction, so two processes registering the same
name at once get distinct versions. Alias rules follow MLflow's.
"""

from __future__ import annotations

import getpass
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import Conflict, InvalidInput, NotFound
from jupyter_mlops.store.base import StoreView
from jupyter_mlops.tracking import fluent
from jupyter_mlops.tracking.models import log_model, parse_runs_uri, read_descriptor

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


def _store():
    return fluent._tracker.store()


def _vid(name: str, version: int) -> str:
    return f"{name}/{version}"


# -- registering ------------------------------------------------------------------------------
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
    if not uri.startswith("runs:/"):
        raise InvalidInput(
            f"register_model takes a model object or a runs:/<run_id>/<path> URI, not {uri!r}."
        )
    run_id, path = parse_runs_uri(uri)
    store = _store()
    run = store.get_run(run_id)
    descriptor = read_descriptor(run_id, path)
    record = run.get("artifacts", {}).get(f"{path}/{descriptor.get('model_file', 'model.pkl')}")
    if record is None:
        raise NotFound(f"Run {run_id} has no model file under {path!r}.")
    doc = {
        "name": name,
        "run_id": run_id,
        "source": f"runs:/{run_id}/{path}",
        "artifact_path": path,
        "sha256": record["sha256"],
        "status": "READY",
        "flavor": descriptor.get("flavor", "python"),
        "description": description or "",
        "tags": fluent._stringify(tags or {}, "tag"),
        "signature": descriptor.get("signature"),
        "input_example": descriptor.get("input_example"),
        "reference": descriptor.get("reference"),
        "creation_time": _now_ms(),
        "lineage": lineage_of(run, descriptor),
        "validations": [],
        "contract": _contract_entry(store, run_id, path, descriptor, contract),
    }
    version = store.transact(lambda txn: _add_version(txn, name, doc))
    return get_model_version(name, version)


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
    import uuid

    from jupyter_mlops.contracts.record import record_contract

    return record_contract(
        store, run_id, f"{path}/contracts/{uuid.uuid4().hex[:12]}.yaml", contract
    )


def _add_version(txn: StoreView, name: str, doc: dict[str, Any]) -> int:
    now = doc["creation_time"]
    model = txn.get("registered_models", name)
    if model is None:
        txn.put(
            "registered_models",
            name,
            {
                "name": name,
                "description": "",
                "tags": {},
                "creation_time": now,
                "last_updated": now,
            },
        )
    else:
        txn.merge("registered_models", name, {"last_updated": now})
    existing = [d["version"] for d in txn.table("model_versions").values() if d["name"] == name]
    version = max(existing, default=0) + 1
    txn.put("model_versions", _vid(name, version), {**doc, "version": version})
    return version


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
    version = _version_number(version)
    doc = _store().documents("model_versions").get(_vid(name, version))
    if doc is None:
        _missing_version(name, version)
    return _to_version(doc, _aliases_of(name))


def _missing_version(name: str, version: int) -> None:
    versions = _versions_of(name)
    if not versions:
        raise NotFound(f"No registered model named {name!r}. List models with %mlops_models.")
    listed = ", ".join(str(v) for v in versions)
    raise NotFound(
        f"Model {name!r} has no version {version} (versions: {listed}). "
        f"List them with %mlops_models {name}."
    )


def _version_number(version: Any) -> int:
    try:
        number = int(str(version).lstrip("vV"))
    except ValueError:
        raise InvalidInput(f"A model version is a number such as 3, not {version!r}.") from None
    if number < 1:
        raise InvalidInput(f"Model versions start at 1, not {number}.")
    return number


def _versions_of(name: str) -> list[int]:
    return sorted(
        d["version"] for d in _store().documents("model_versions").values() if d["name"] == name
    )


def _aliases_of(name: str) -> dict[str, int]:
    return {
        a["alias"]: a["version"]
        for a in _store().documents("aliases").values()
        if a["name"] == name
    }


def _to_version(doc: dict[str, Any], aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        name=doc["name"],
        version=doc["version"],
        run_id=doc["run_id"],
        source=doc["source"],
        sha256=doc["sha256"],
        status=doc.get("status", "READY"),
        flavor=doc.get("flavor", "python"),
        description=doc.get("description", ""),
        tags=dict(doc.get("tags", {})),
        aliases=sorted(a for a, v in aliases.items() if v == doc["version"]),
        signature=doc.get("signature"),
        input_example=doc.get("input_example"),
        creation_time=doc.get("creation_time", 0),
        lineage=dict(doc.get("lineage", {})),
        validations=list(doc.get("validations", [])),
        contract=doc.get("contract"),
    )


def list_versions(name: str) -> list[ModelVersion]:
    """Every version of ``name``, oldest first."""
    if _store().documents("registered_models").get(name) is None:
        raise NotFound(f"No registered model named {name!r}. List models with %mlops_models.")
    aliases = _aliases_of(name)
    docs = [d for d in _store().documents("model_versions").values() if d["name"] == name]
    return [_to_version(d, aliases) for d in sorted(docs, key=lambda d: d["version"])]


def search_models(filter: str | None = None) -> list[RegisteredModel]:  # noqa: A002
    """Registered models, optionally filtered (``name LIKE 'churn%'``, ``tags.team = 'a'``)."""
    from jupyter_mlops.tracking.search import compile_filter

    predicate = compile_filter(_model_filter(filter))
    store = _store()
    versions = store.documents("model_versions").values()
    aliases = store.documents("aliases").values()
    found = []
    for name, doc in sorted(store.documents("registered_models").items()):
        if not predicate({"run_name": name, "tags": doc.get("tags", {})}):
            continue
        numbers = sorted(v["version"] for v in versions if v["name"] == name)
        live = [v["version"] for v in versions if v["name"] == name and v["status"] == "READY"]
        found.append(
            RegisteredModel(
                name=name,
                description=doc.get("description", ""),
                tags=dict(doc.get("tags", {})),
                latest_version=max(live, default=None),
                versions=numbers,
                aliases={a["alias"]: a["version"] for a in aliases if a["name"] == name},
                creation_time=doc["creation_time"],
                last_updated=doc["last_updated"],
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
    version = _version_number(version)
    fields: dict[str, Any] = {}
    if description is not None:
        fields["description"] = str(description)
    if tags:
        fields["tags"] = fluent._stringify(tags, "tag")
    if fields:
        _modify_version(
            name, version, lambda txn, doc: txn.merge("model_versions", _vid(name, version), fields)
        )
    return get_model_version(name, version)


def archive_model_version(name: str, version: int | str) -> ModelVersion:
    """Mark a version ARCHIVED (it keeps its number; it can no longer hold aliases)."""
    version = _version_number(version)

    def body(txn: StoreView, doc: dict[str, Any]) -> None:
        held = [
            a["alias"]
            for a in txn.table("aliases").values()
            if a["name"] == name and a["version"] == version
        ]
        if held:
            raise Conflict(
                f"Version {version} of {name!r} still holds alias(es) {', '.join(held)}: move "
                "or delete them first (set_alias / delete_alias)."
            )
        txn.merge("model_versions", _vid(name, version), {"status": "ARCHIVED"})

    _modify_version(name, version, body)
    return get_model_version(name, version)


def _modify_version(name: str, version: int, fn: Any) -> None:
    def body(txn: StoreView) -> None:
        doc = txn.get("model_versions", _vid(name, version))
        if doc is None:
            _missing_version(name, version)
        fn(txn, doc)

    _store().transact(body)


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
    version = _version_number(version)

    def body(txn: StoreView, doc: dict[str, Any]) -> None:
        if doc.get("status") == "ARCHIVED":
            raise Conflict(f"Version {version} of {name!r} is archived and cannot hold an alias.")
        _move_alias(txn, name, alias, version, reason, forced)

    _modify_version(name, version, body)


def delete_alias(name: str, alias: str, reason: str | None = None) -> None:
    """Remove ``alias`` from ``name`` (recorded in the history as a move to no version)."""

    def body(txn: StoreView) -> None:
        if txn.get("aliases", f"{name}@{alias}") is None:
            raise NotFound(f"Model {name!r} has no alias {alias!r}.")
        _move_alias(txn, name, alias, None, reason, False)

    _store().transact(body)


def _move_alias(
    txn: StoreView, name: str, alias: str, version: int | None, reason: str | None, forced: bool
) -> None:
    key = f"{name}@{alias}"
    current = txn.get("aliases", key)
    previous = current["version"] if current else None
    if previous == version:
        return
    if version is None:
        txn.delete("aliases", key)
    else:
        txn.put("aliases", key, {"name": name, "alias": alias, "version": version})
    txn.put(
        "alias_history",
        uuid.uuid4().hex,
        {
            "name": name,
            "alias": alias,
            "from_version": previous,
            "to_version": version,
            "time": _now_ms(),
            "user": _user(),
            "reason": reason or "",
            "forced": forced,
        },
    )
    txn.merge("registered_models", name, {"last_updated": _now_ms()})


def alias_history(name: str, alias: str | None = None) -> list[dict[str, Any]]:
    """Every move of the model's aliases (or one alias), oldest first."""
    moves = [
        dict(m)
        for m in _store().documents("alias_history").values()
        if m["name"] == name and (alias is None or m["alias"] == alias)
    ]
    return sorted(moves, key=lambda m: m["time"])


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
    rest = uri[len("models:/") :]
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        if _store().documents("registered_models").get(name) is None:
            raise NotFound(f"No registered model named {name!r}. List models with %mlops_models.")
        holder = _aliases_of(name).get(alias)
        if holder is None:
            known = ", ".join(sorted(_aliases_of(name))) or "none"
            raise NotFound(f"Model {name!r} has no alias {alias!r} (aliases: {known}).")
        return get_model_version(name, holder)
    name, _, version = rest.rpartition("/")
    if not name:
        raise InvalidInput(
            f"Bad model URI {uri!r}: use models:/<name>/<version>, models:/<name>@<alias> "
            "or models:/<name>/latest."
        )
    if version == "latest":
        live = [v for v in list_versions(name) if v.status == "READY"]
        if not live:
            raise NotFound(f"Model {name!r} has no version that is not archived.")
        return live[-1]
    return get_model_version(name, version)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _now_ms() -> int:
    return int(time.time() * 1000)
