"""The local runner's cache manifest: skip a step whose code, parameters and inputs are unchanged.

``cache.json`` in the pipeline folder records, per step, a key — the sha256 of the step module's
bytes, of the parameter values it reads and of the content hashes of its inputs — and the files,
content hashes and metrics it produced. A step whose key matches and whose files are all still
there (same size) is not run again; its outputs are reused. Because inputs are keyed by content,
a step that runs again and produces the same bytes leaves the steps below it cached
(ploomber #111 asks for exactly this).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "cache.json"
VERSION = 1


@dataclass(frozen=True)
class Output:
    """One saved value: its file (relative to the pipeline folder), size and sha256."""

    file: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Entry:
    """What the last successful run of a step left behind."""

    key: str
    outputs: dict[str, Output] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def step_key(module_bytes: bytes, params: dict[str, Any], inputs: dict[str, str]) -> str:
    """The cache key of a step run: code, parameter values, input content hashes."""
    digest = hashlib.sha256(module_bytes)
    digest.update(json.dumps(params, sort_keys=True, default=repr).encode())
    digest.update(json.dumps(inputs, sort_keys=True).encode())
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load(folder: str) -> dict[str, Entry]:
    """The manifest of ``folder`` (empty when missing, unreadable or from another version)."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        return {}
    try:
        return {name: _entry(doc) for name, doc in raw.get("steps", {}).items()}
    except (KeyError, TypeError, AttributeError):
        return {}


def _entry(doc: dict[str, Any]) -> Entry:
    outputs = {k: Output(**v) for k, v in doc["outputs"].items()}
    return Entry(key=doc["key"], outputs=outputs, metrics=dict(doc.get("metrics", {})))


def save(folder: str, entries: dict[str, Entry]) -> None:
    """Write the manifest atomically (a temporary file renamed into place)."""
    doc = {
        "version": VERSION,
        "steps": {
            name: {
                "key": e.key,
                "outputs": {k: vars(o) for k, o in e.outputs.items()},
                "metrics": e.metrics,
            }
            for name, e in entries.items()
        },
    }
    path = os.path.join(folder, MANIFEST)
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def is_fresh(entry: Entry | None, key: str, folder: str) -> bool:
    """Whether ``entry`` was made with ``key`` and its files are still there, same size."""
    if entry is None or entry.key != key:
        return False
    for output in entry.outputs.values():
        try:
            if os.path.getsize(os.path.join(folder, output.file)) != output.size:
                return False
        except OSError:
            return False
    return True
