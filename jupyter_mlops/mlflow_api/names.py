"""The small filter MLflow takes when searching experiments, registered models and versions.

``name = 'x'``, ``name != 'x'``, ``name LIKE 'x%'``, ``name ILIKE '%x%'``, ``tags.k = 'v'`` (and
for versions ``run_id = '...'``, ``source_path``...), joined by ``AND``: what MLflow's
``SearchExperimentsUtils``/``SearchModelUtils`` accept for these entities. Anything else is one
``INVALID_PARAMETER_VALUE`` saying what is taken. A negative comparison on a tag (``!=``,
``NOT LIKE``) holds for an entity without the tag, as in MLflow's stores.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jupyter_mlops.mlflow_api.api import ApiError
from jupyter_mlops.tracking.like import like_matcher

Predicate = Callable[[dict[str, Any]], bool]

_CONDITION = re.compile(
    r"""\s*(?P<field>(?:tags?\.)?(?:`[^`]+`|"[^"]+"|[\w.]+))\s*
        (?P<op>=|!=|<>|\bNOT\s+LIKE\b|\bNOT\s+ILIKE\b|\bLIKE\b|\bILIKE\b)\s*
        (?P<value>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")\s*""",
    re.IGNORECASE | re.VERBOSE,
)


def name_filter(text: Any, what: str, fields: tuple[str, ...] = ("name",)) -> Callable[..., bool]:
    """A predicate ``(name, tags) -> bool`` for experiments and registered models."""
    keep = document_filter(text, what, fields)
    return lambda name, tags: keep({"name": name, "tags": tags})


def document_filter(text: Any, what: str, fields: tuple[str, ...]) -> Predicate:
    """A predicate over ``{field: value, ..., "tags": {...}}`` documents."""
    if text is None or not str(text).strip():
        return lambda doc: True
    conditions = [_condition(part, str(text), what, fields) for part in _parts(str(text))]
    return lambda doc: all(c(doc) for c in conditions)


def _parts(text: str) -> list[str]:
    parts, current, quote = [], [], ""
    tokens = re.split(r"('|\"|\s+AND\s+)", text, flags=re.IGNORECASE)
    for token in tokens:
        if quote:
            current.append(token)
            if token == quote:
                quote = ""
        elif token in ("'", '"'):
            quote = token
            current.append(token)
        elif re.fullmatch(r"\s+AND\s+", token, re.IGNORECASE):
            parts.append("".join(current))
            current = []
        else:
            current.append(token)
    parts.append("".join(current))
    return parts


def _condition(part: str, text: str, what: str, fields: tuple[str, ...]) -> Predicate:
    match = _CONDITION.fullmatch(part)
    if match is None:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid filter {text!r} for {what}: each condition is FIELD = 'value' (or !=, LIKE, "
            f"ILIKE) on {', '.join(fields)} or tags.<key>, joined by AND.",
        )
    field = match["field"].strip('`"')
    op = " ".join(match["op"].upper().split())
    raw = match["value"]
    value = raw[1:-1].replace("''", "'").replace("\\'", "'").replace('\\"', '"')
    tag = None
    if field.lower().startswith(("tags.", "tag.")):
        tag = field.split(".", 1)[1].strip('`"')
    elif field not in fields:
        raise ApiError(
            "INVALID_PARAMETER_VALUE",
            f"Invalid attribute key {field!r} in the filter of {what}: "
            f"searchable are {', '.join(fields)} and tags.<key>.",
        )
    compare = _compare(op, value)
    # A missing tag is not equal to anything: MLflow's client lists registered models with
    # "tag.`mlflow.prompt.is_prompt` != 'true'" appended, and expects the untagged ones back.
    missing_holds = tag is not None and op in ("!=", "<>", "NOT LIKE", "NOT ILIKE")

    def holds(doc: dict[str, Any]) -> bool:
        found = (doc.get("tags") or {}).get(tag) if tag is not None else doc.get(field)
        return missing_holds if found is None else compare(str(found))

    return holds


def _compare(op: str, value: str) -> Callable[[str], bool]:
    if op == "=":
        return lambda found: found == value
    if op in ("!=", "<>"):
        return lambda found: found != value
    matcher = like_matcher(value, ignore_case="ILIKE" in op)
    if op.startswith("NOT"):
        return lambda found: not matcher(found)
    return matcher
