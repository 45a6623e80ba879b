"""``jupyter mlops store check``: read a store folder end to end and say what is wrong with it.

Read-only: it never writes (it also works on a read-only mount). It reads ``FORMAT``, the
snapshot, every journal line, every metric log against the summaries in its run, every record
stream, every artifact file against its sha256, and lists what no record refers to. Each
finding is one of three severities:

- ``damage``: something recorded cannot be read; the store refuses to open, or a history or
  artifact is unreadable. ``jupyter mlops store repair`` keeps what can be read;
- ``warning``: an inconsistency that loses nothing yet (a summary that does not match its log,
  an artifact file no run refers to);
- ``note``: leftovers the next writer or compaction removes by itself (a killed writer's
  unfinished line, temporary files).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import StoreError
from jupyter_mlops.store import journal
from jupyter_mlops.store.files import FileStorage
from jupyter_mlops.store.formats import metrics_stream
from jupyter_mlops.store.recovery import complete_length
from jupyter_mlops.store.state import SCHEMA, STREAMS, SnapshotError, State
from jupyter_mlops.store.storage import sha256_of

DAMAGE, WARNING, NOTE = "damage", "warning", "note"
MAX_LINES_LISTED = 20


@dataclass(frozen=True)
class Finding:
    """One thing ``check`` found: how bad, in which file (relative to the store), and what."""

    severity: str
    file: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """What ``check_store`` read and found."""

    root: str
    findings: tuple[Finding, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No damage and no warning (notes are harmless)."""
        return not any(f.severity in (DAMAGE, WARNING) for f in self.findings)

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        read = ", ".join(f"{n} {what}" for what, n in self.counts.items())
        out = [f"store {self.root}: read {read}" if read else f"store {self.root}"]
        out += [f"  {f.severity:7} {f.file}: {f.message}" for f in self.findings]
        damaged = sum(f.severity == DAMAGE for f in self.findings)
        if damaged:
            out.append(
                f"{damaged} damaged: `jupyter mlops store repair {self.root}` keeps "
                "everything readable and moves the rest to quarantine/."
            )
        elif self.ok:
            out.append("ok: everything recorded can be read.")
        return out


class _Scan:
    """The state of one check: findings so far, and what was read."""

    def __init__(self, storage: FileStorage) -> None:
        self.storage = storage
        self.findings: list[Finding] = []
        self.counts: dict[str, int] = {}

    def add(self, severity: str, file: str, message: str) -> None:
        self.findings.append(Finding(severity, file, message))


def check_store(root: str, hashes: bool = True) -> CheckReport:
    """Check the store folder ``root``; ``hashes=False`` skips re-hashing artifact files."""
    if not os.path.isdir(root):
        raise StoreError(f"There is no store folder at {root}.")
    storage = FileStorage(root, read_only=True)  # never writes, whatever the folder allows
    scan = _Scan(storage)
    with storage.lock(exclusive=False):  # writers wait only while the state is read
        state = _check_state(scan)
        docs = stream_docs(state, storage) if state is not None else {}
        records = {n: d for n, d in docs.items() if not n.startswith("metrics/")}
        if state is not None:
            _check_streams(scan, state, records)
    if state is not None:  # committed metric bytes and artifact files never change
        _check_streams(scan, state, {n: d for n, d in docs.items() if n not in records})
        _check_orphans(scan, state, docs)
        _check_artifacts(scan, state, hashes)
    _check_leftovers(scan)
    return CheckReport(storage.root, tuple(scan.findings), scan.counts)


# -- format, snapshot, journal ----------------------------------------------------------------
def _check_state(scan: _Scan) -> State | None:
    storage = scan.storage
    try:
        schema = storage.read_format()
    except StoreError as e:
        scan.add(DAMAGE, "FORMAT", str(e).split(" Nothing was changed")[0])
        schema = None
    if schema is not None and schema > SCHEMA:
        scan.add(DAMAGE, "FORMAT", f"schema {schema} is newer than this jupyter_mlops reads")
        return None
    try:
        data = storage.read_snapshot()
        state = State.from_snapshot(data) if data is not None else State(0, schema or SCHEMA)
    except SnapshotError as e:
        scan.add(DAMAGE, "store.json", f"{e}: nothing recorded before the journal can be read")
        return None
    if data is None and schema is not None and schema >= SCHEMA:
        scan.add(DAMAGE, "store.json", "it is missing: nothing before the journal can be read")
    if schema is None and (data is not None or storage.journals()):
        scan.add(DAMAGE, "FORMAT", "it is missing")
    scan.counts["journal lines"] = 0
    for generation in storage.journals():
        name = f"journal-{generation}.jsonl"
        if generation < state.generation:
            scan.add(NOTE, name, "already folded into store.json (the next compaction removes it)")
        elif generation > state.generation:
            scan.add(
                DAMAGE,
                name,
                f"newer than store.json (generation {state.generation}): "
                "the snapshot it continues is lost",
            )
    _check_journal(scan, state)
    scan.counts["runs"] = len(state.tables.get("runs", {}))
    scan.counts["experiments"] = len(state.tables.get("experiments", {}))
    return state


def _check_journal(scan: _Scan, state: State) -> None:
    name = f"journal-{state.generation}.jsonl"
    data, end = scan.storage.read_journal(state.generation, 0)
    tail = scan.storage.journal_size(state.generation) - end
    bad = 0
    offset = 0
    decode = journal.decoder(state.schema)
    for line in data.split(b"\n")[:-1]:
        try:
            decoded = decode(line)
            state.apply(state.check(decoded))
        except journal.TornLine:
            scan.add(NOTE, name, f"line at byte {offset}: dropped, torn by a killed writer")
        except journal.LineError as e:
            bad += 1
            if bad <= MAX_LINES_LISTED:
                scan.add(DAMAGE, name, f"line at byte {offset} cannot be read: {e}")
        offset += len(line) + 1
        scan.counts["journal lines"] += 1
    if bad > MAX_LINES_LISTED:
        scan.add(DAMAGE, name, f"... and {bad - MAX_LINES_LISTED} more unreadable lines")
    if tail:
        scan.add(
            NOTE,
            name,
            f"{tail} bytes of an unfinished write (a killed writer): never "
            "acknowledged, the next writer removes them",
        )


# -- streams ----------------------------------------------------------------------------------
def stream_docs(state: State, storage: FileStorage) -> dict[str, dict[str, Any]]:
    """``_streams`` of ``state``; for a schema-1 store, every stream file as committed."""
    if state.schema >= SCHEMA:
        return dict(state.tables.get(STREAMS, {}))
    return {n: {"length": complete_length(storage, n)} for n in storage.list_streams()}


POINT_LINE = re.compile(
    rb"^([^\t\n]+)\t-?\d+\t-?\d+\t[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|inf|nan)$", re.M
)
"""One well-formed metric point line (key, step, timestamp, the value's ``repr``)."""


def metric_lines(data: bytes) -> tuple[dict[str, int], int]:
    """Points per key in a metric log, and how many lines do not parse (one regex pass)."""
    keys = POINT_LINE.findall(data)
    counts: dict[str, int] = {}
    try:
        for key, n in Counter(keys).items():
            counts[key.decode()] = n
    except UnicodeDecodeError:
        return counts, data.count(b"\n")
    return counts, data.count(b"\n") - len(keys)


def _check_streams(scan: _Scan, state: State, docs: dict[str, dict[str, Any]]) -> None:
    runs = state.tables.get("runs", {})
    scan.counts["metric logs"] = scan.counts.get("metric logs", 0) + sum(
        n.startswith("metrics/") for n in docs
    )
    for name, doc in sorted(docs.items()):
        data = _committed(scan, name, doc)
        if data is None:
            continue
        if name.startswith("metrics/"):
            run_id = os.path.basename(name)[: -len(".tsv")]
            _check_metrics(scan, name, data, runs.get(run_id))
        else:
            bad = sum(not _json_line(line) for line in data.split(b"\n")[:-1])
            if bad:
                scan.add(DAMAGE, name, f"{bad} records cannot be read")


def _check_orphans(scan: _Scan, state: State, docs: dict[str, dict[str, Any]]) -> None:
    for run_id, run in state.tables.get("runs", {}).items():
        if run.get("metrics") and metrics_stream(run_id) not in docs:
            scan.add(
                DAMAGE,
                metrics_stream(run_id),
                f"missing: the metric history of run {run_id} is lost (summaries remain)",
            )
    committed = {doc.get("file", name) for name, doc in docs.items()}
    for name in scan.storage.list_streams():
        if name not in committed:
            scan.add(
                NOTE,
                name,
                "no commit refers to it (a killed writer's): the next compaction removes it",
            )


def _committed(scan: _Scan, name: str, doc: dict[str, Any]) -> bytes | None:
    file, length = doc.get("file", name), doc["length"]
    size = scan.storage.stream_size(file)
    if not os.path.exists(scan.storage.path(file)):
        if length:
            scan.add(DAMAGE, file, f"missing: {length} committed bytes are lost")
        return None
    if size < length:
        scan.add(DAMAGE, file, f"holds {size} bytes, {length} were committed: the end is lost")
        return None
    if size > length:
        scan.add(
            NOTE,
            file,
            f"{size - length} bytes past its committed end (a failed or "
            "killed write): never read, the next writer removes them",
        )
    return scan.storage.read_stream(file, 0, length)


def _check_metrics(scan: _Scan, name: str, data: bytes, run: dict[str, Any] | None) -> None:
    counts, bad = metric_lines(data)
    if run is None:
        scan.add(WARNING, name, "a metric log of a run that is not in the store")
        return
    if bad:
        scan.add(DAMAGE, name, f"{bad} lines cannot be read")
    for key, summary in sorted((run.get("metrics") or {}).items()):
        logged = counts.get(key, 0)
        if isinstance(summary, dict) and summary.get("count") != logged:
            scan.add(
                WARNING,
                name,
                f"metric {key!r}: the log holds {logged} points, the "
                f"run's summary counts {summary.get('count')}",
            )


def _json_line(line: bytes) -> bool:
    import json

    try:
        json.loads(line)
    except ValueError:
        return False
    return True


# -- artifacts and leftovers --------------------------------------------------------------------
def referenced_blobs(state: State) -> dict[str, list[tuple[str, str]]]:
    """sha256 -> the (run id, artifact path) that refer to it."""
    refs: dict[str, list[tuple[str, str]]] = {}
    for run_id, run in state.tables.get("runs", {}).items():
        for path, record in (run.get("artifacts") or {}).items():
            if isinstance(record, dict) and isinstance(record.get("sha256"), str):
                refs.setdefault(record["sha256"], []).append((run_id, path))
    return refs


def blob_files(storage: FileStorage) -> Iterator[tuple[str, str]]:
    """Every file under ``artifacts/`` as (name, relative path)."""
    for folder, _, files in os.walk(storage.path("artifacts")):
        for name in files:
            yield name, os.path.relpath(os.path.join(folder, name), storage.root)


def _check_artifacts(scan: _Scan, state: State, hashes: bool) -> None:
    storage = scan.storage
    refs = referenced_blobs(state)
    scan.counts["artifacts"] = sum(len(r) for r in refs.values())
    for sha, users in sorted(refs.items()):
        run_id, path = users[0]
        file = os.path.relpath(storage.blob_file(sha), storage.root)
        if not os.path.exists(storage.blob_file(sha)):
            scan.add(DAMAGE, file, f"missing: artifact {path!r} of run {run_id} is lost")
        elif hashes and sha256_of(storage.blob_file(sha)) != sha:
            scan.add(
                DAMAGE,
                file,
                f"does not match its sha256: artifact {path!r} of run "
                f"{run_id} was changed on disk and will not be loaded",
            )
    for name, rel in blob_files(storage):
        if name not in refs:
            scan.add(
                WARNING,
                rel,
                "no run refers to it (a write that failed before its "
                "commit): repair moves it to quarantine",
            )


def _check_leftovers(scan: _Scan) -> None:
    root = scan.storage.root
    names = [n for n in os.listdir(root) if n.startswith(".snapshot-")]
    if os.path.isdir(os.path.join(root, "tmp")):
        names += [os.path.join("tmp", n) for n in os.listdir(os.path.join(root, "tmp"))]
    for name in names:
        scan.add(NOTE, name, "a temporary file: removed at the next open once its writer is gone")
