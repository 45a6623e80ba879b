"""What every document dataclass shares: to and from its JSON form, unknown fields kept."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def to_doc(entity: Any) -> dict[str, Any]:
    """The stored JSON document of a dataclass: its fields (a deep copy), then ``extra``."""
    doc = {
        f.name: copy.deepcopy(getattr(entity, f.name))
        for f in dataclasses.fields(entity)
        if f.name != "extra"
    }
    return {**copy.deepcopy(getattr(entity, "extra", {})), **doc}


def from_doc(cls: type[T], doc: dict[str, Any], **defaults: Any) -> T:
    """The dataclass ``cls`` of a stored document; fields it does not know go to ``extra``."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    known = {k: copy.deepcopy(v) for k, v in doc.items() if k in names and k != "extra"}
    extra = {k: copy.deepcopy(v) for k, v in doc.items() if k not in names}
    for key, value in defaults.items():
        if known.get(key) is None:
            known[key] = value
    if "extra" in names:
        known["extra"] = extra
    return cls(**known)
