"""How parts of the embedded store's documents are laid out in files.

A run's metric log is ``metrics/<first two hex digits>/<run_id>.tsv``, one point per line
(key, step, timestamp, value, tab-separated); a record stream is ``records/<name>.jsonl`` (a
trimmed one ``records/<name>@<version>.jsonl``), one JSON record per line; artifacts are named
by relative paths that cannot leave the run.
"""

from __future__ import annotations

import re
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.store.base import MetricPoint

_STREAM_RE = re.compile(r"^[\w.-]+(/[\w.-]+)*$")


def check_stream(stream: str) -> None:
    """A record stream's name: path segments of letters, digits, ``_ - .``; no ``..``."""
    if not isinstance(stream, str) or not _STREAM_RE.match(stream) or ".." in stream.split("/"):
        raise InvalidInput(
            f"Invalid stream name {stream!r}: use letters, digits, '_', '-', '.', '/'."
        )


def records_stream(stream: str) -> str:
    """The stream file of the record stream ``stream`` (checked)."""
    check_stream(stream)
    return f"records/{stream}.jsonl"


def parse_points(data: bytes) -> dict[str, list[MetricPoint]]:
    """A metric log (tab-separated key, step, timestamp, value) grouped by key, in order."""
    points: dict[str, list[MetricPoint]] = {}
    for line in data.split(b"\n"):
        try:
            key, step, ts, value = line.split(b"\t")
            name = key.decode()
            points.setdefault(name, []).append((name, float(value), int(step), int(ts)))
        except ValueError:
            continue  # an empty or torn line (a killed writer)
    return points


def metrics_stream(run_id: str) -> str:
    """The metric log of run ``run_id``."""
    return f"metrics/{run_id[:2]}/{run_id}.tsv"


def summarize(summaries: dict[str, dict[str, Any]], points: list[MetricPoint]) -> dict[str, Any]:
    """Per-key summaries (last, min, max, step, count, timestamp) updated with ``points``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value, step, ts in points:
        cur = out.get(key) or dict(summaries.get(key) or {"count": 0, "min": None, "max": None})
        cur["count"] += 1
        if value == value:  # NaN never becomes a min or max
            cur["min"] = value if cur["min"] is None else min(cur["min"], value)
            cur["max"] = value if cur["max"] is None else max(cur["max"], value)
        if _is_latest(step, ts, value, cur):
            cur.update(last=value, step=step, timestamp=ts)
        out[key] = cur
    return out


def _is_latest(step: int, ts: int, value: float, cur: dict[str, Any]) -> bool:
    """Whether a point replaces the summary's ``last``.

    MLflow's rule: the greatest ``(step, timestamp, value)``; a NaN ``last`` gives way to a
    number logged at the same step and time.
    """
    if "step" not in cur or step != cur["step"]:
        return "step" not in cur or step > cur["step"]
    before = cur.get("timestamp")
    if before is None or ts != before:
        return before is None or ts > before
    last = cur.get("last")
    return last is None or last != last or value > last


def clean_artifact_path(path: str) -> str:
    """A relative POSIX path inside the run, or ``InvalidInput``: nothing escapes the store."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or str(path).startswith("/") or ".." in parts:
        raise InvalidInput(
            f"Artifact path {path!r} must be relative and stay inside the run "
            "(no leading '/', no '..'), e.g. 'plots/roc.png'."
        )
    return "/".join(parts)
