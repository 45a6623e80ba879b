"""Runs → TensorBoard event files: one folder and one event file per run.

Layout: ``LOGDIR/<experiment>/<run name>-<run id[:8]>/events.out.tfevents.<start>.jupyter-mlops.
<run id>``, so ``tensorboard --logdir LOGDIR`` shows one TensorBoard run per run, named
``experiment/run``. Each metric point becomes a scalar (tag = metric key, step, wall time =
the point's timestamp). A run that has ended also gets the HParams plugin's session start and end
(its params as hparams, parsed as numbers or booleans where they read as such, and its status), so
the HParams dashboard lists it; TensorBoard builds the hparams table from these sessions.

An event file is an append-only log here: exporting again reads what the file already holds and
appends only the missing points, so a TensorBoard that is watching the folder picks up new
points and never sees a rewritten file. (TensorBoard does not mind the order of events: with
file version 2 it only discards data after a ``SessionLog.START``, which is never written.)
A torn last record (a process killed mid-write) is cut off before appending.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.tensorboard import events as ev
from jupyter_mlops.tensorboard.reader import read_records, scalar_keys

FILE_PREFIX = "events.out.tfevents."
FILE_MARK = ".jupyter-mlops."
_UNSAFE = re.compile(r"[^\w.+=@ -]+")
_STATUSES = {
    "FINISHED": ev.STATUS_SUCCESS,
    "FAILED": ev.STATUS_FAILURE,
    "KILLED": ev.STATUS_FAILURE,
}


@dataclass(frozen=True)
class ExportedRun:
    """One run's event file after an export: how many points it holds and how many are new."""

    run_id: str
    name: str
    path: str
    points: int
    added: int


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_runs` wrote: the log folder and one entry per run."""

    logdir: str
    runs: tuple[ExportedRun, ...]

    @property
    def added(self) -> int:
        """Points appended by this export, over all runs."""
        return sum(r.added for r in self.runs)

    def __str__(self) -> str:
        return (
            f"{len(self.runs)} run{'s' * (len(self.runs) != 1)} in {self.logdir} "
            f"({self.added} new point{'s' * (self.added != 1)})"
        )


def export_runs(
    logdir: str,
    experiments: str | Sequence[str] | None = None,
    runs: Iterable[dict[str, Any]] | None = None,
) -> ExportResult:
    """Write (or bring up to date) the event files of runs under ``logdir``.

    Parameters
    ----------
    logdir : str
        The folder to write into (created if missing); give it to ``tensorboard --logdir``.
    experiments : str or list of str, optional
        Only these experiments' runs (default: every experiment).
    runs : iterable of run documents, optional
        These runs instead (as :func:`jupyter_mlops.tracking.fluent.find_runs` returns them).
    """
    from jupyter_mlops.tracking import fluent

    logdir = check_logdir(logdir)
    docs = list(runs) if runs is not None else fluent.find_runs(experiments)
    exported = tuple(export_run(logdir, doc) for doc in docs)
    return ExportResult(logdir, exported)


def check_logdir(logdir: str) -> str:
    """``logdir`` as an absolute folder, created if missing; a clear error if it cannot be."""
    if not isinstance(logdir, (str, os.PathLike)) or not str(logdir).strip():
        raise InvalidInput("Give a folder to write the TensorBoard logs into, e.g. -o tb_logs.")
    path = os.path.abspath(os.path.expanduser(str(logdir)))
    if os.path.exists(path) and not os.path.isdir(path):
        raise InvalidInput(f"{path} is a file, not a folder: give a folder for the logs.")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise InvalidInput(f"Cannot create {path} ({e.strerror}): give another folder.") from None
    return path


def run_folder(logdir: str, run: dict[str, Any]) -> str:
    """The folder of ``run``'s event file under ``logdir``."""
    experiment = _safe(str(run.get("experiment") or run.get("experiment_id") or "Default"))
    name = _safe(str(run.get("run_name") or "run"))
    return os.path.join(logdir, experiment, f"{name}-{run['run_id'][:8]}")


def _safe(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name).strip(" .") or "_"
    return cleaned[:120]


def event_file(logdir: str, run: dict[str, Any]) -> str:
    """The path of ``run``'s event file (named after the run's start time and id)."""
    start_s = int((run.get("start_time") or 0) / 1000)
    filename = f"{FILE_PREFIX}{start_s}{FILE_MARK}{run['run_id']}"
    return os.path.join(run_folder(logdir, run), filename)


def export_run(logdir: str, run: dict[str, Any], store: Any = None) -> ExportedRun:
    """Append ``run``'s missing points (and, once it has ended, its hparams) to its event file."""
    from jupyter_mlops.store import get_store

    store = store or get_store()
    path = event_file(logdir, run)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    present, total = _present(path)
    header = (
        []
        if total
        else [ev.event((run.get("start_time") or 0) / 1000, file_version=ev.FILE_VERSION)]
    )
    points: list[bytes] = []
    for key in sorted(run.get("metrics") or {}):
        points.extend(_missing_points(key, store.get_metric_history(run["run_id"], key), present))
    tail = []
    if run.get("status") in _STATUSES and ("", ev.SESSION_START_TAG) not in present:
        tail.append(_hparams_event(run))
    with open(path, "ab") as fh:
        ev.write_records(fh, [*header, *points, *tail])
    held = sum(1 for k in present if len(k) == 4)
    return ExportedRun(run["run_id"], str(run.get("run_name", "")), path, held, len(points))


def _present(path: str) -> tuple[set[tuple[Any, ...]], int | None]:
    """What the event file holds (scalar keys, hparams tags) and its record count, or None."""
    if not os.path.exists(path):
        return set(), None
    present: set[tuple[Any, ...]] = set()
    count, good_bytes = 0, 0
    for data, end in read_records(path):
        count, good_bytes = count + 1, end
        present.update(scalar_keys(data))
    if good_bytes < os.path.getsize(path):  # a torn tail: cut it, else later records are lost
        with open(path, "r+b") as fh:
            fh.truncate(good_bytes)
    return present, count or None


def _missing_points(
    key: str, points: Sequence[tuple[str, float, int, int]], present: set[tuple[Any, ...]]
) -> list[bytes]:
    out = []
    for _, value, step, timestamp in points:
        f32 = struct.pack("<f", ev.float32(value))
        ident = (key, int(step), int(timestamp), f32)
        if ident in present:
            continue
        present.add(ident)
        body = ev.summary([ev.scalar_value(key, value)])
        out.append(ev.event(timestamp / 1000, int(step), summary=body))
    return out


def _hparams_event(run: dict[str, Any]) -> bytes:
    params = {k: ev.hparam(str(v)) for k, v in (run.get("params") or {}).items()}
    start_s = (run.get("start_time") or 0) / 1000
    end_s = (run.get("end_time") or run.get("start_time") or 0) / 1000
    values = [
        ev.session_start(params, start_s),
        ev.session_end(_STATUSES[run["status"]], end_s),
    ]
    return ev.event(end_s, summary=ev.summary(values))
