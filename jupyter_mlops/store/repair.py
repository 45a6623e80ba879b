"""``jupyter mlops store repair``: keep everything that can be read, quarantine the rest.

Under the exclusive lock (writers wait), the repair rebuilds the state from whatever reads:
the snapshot (document by document if it must), then every journal line that decodes and
applies, in order; it checks every stream against its commit and every artifact against its
sha256. What cannot be read is copied or moved into ``quarantine/<time>/`` (never deleted), and
the report says what was lost. It ends by writing a new snapshot of the next generation and
``FORMAT``, so a schema-1 store comes out as schema 2, and running processes reload it.

Judgements it makes, each reported:

- a journal line that does not decode, or that updates a run whose creation was lost, is lost;
- a metric log whose points do not match its run's summaries: when dropping exact duplicate
  lines makes them match (the duplicated flush of older versions), the duplicates go; otherwise
  the summaries are recomputed from the log, which holds the points themselves;
- an artifact file that is missing or no longer matches its sha256 is dropped from its run;
  an artifact file no run refers to and older than an hour goes to quarantine.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import StoreError
from jupyter_mlops.store import journal
from jupyter_mlops.store.check import POINT_LINE, blob_files, referenced_blobs, stream_docs
from jupyter_mlops.store.files import FileStorage
from jupyter_mlops.store.formats import metrics_stream, parse_points, summarize
from jupyter_mlops.store.recovery import complete_length, refuse_newer
from jupyter_mlops.store.state import META, SCHEMA, STREAMS, SnapshotError, State
from jupyter_mlops.store.storage import sha256_of

ORPHAN_AGE_S = 3600


@dataclass(frozen=True)
class RepairReport:
    """What ``repair_store`` kept, fixed and lost, and where the unreadable parts went."""

    root: str
    quarantine: str | None
    kept: dict[str, int] = field(default_factory=dict)
    fixed: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report as the CLI prints it."""
        kept = ", ".join(f"{n} {what}" for what, n in self.kept.items())
        out = [f"store {self.root} repaired: kept {kept}"]
        out += [f"  fixed  {line}" for line in self.fixed]
        out += [f"  LOST   {line}" for line in self.lost]
        if not self.lost:
            out.append("nothing was lost.")
        if self.quarantine:
            out.append(f"unreadable files were kept in {self.quarantine}")
        return out


def repair_store(root: str) -> RepairReport:
    """Repair the store folder ``root`` (see the module docstring)."""
    if not os.path.isdir(root):
        raise StoreError(f"There is no store folder at {root}.")
    storage = FileStorage(root)
    if storage.read_only:
        raise storage.read_only_error()
    with storage.lock(exclusive=True):
        job = _Repair(storage)
        job.run()
    return job.report()


class _Repair:
    def __init__(self, storage: FileStorage) -> None:
        self.storage = storage
        self.fixed: list[str] = []
        self.lost: list[str] = []
        self.folder: str | None = None
        self.superseded: list[str] = []
        self.top = 0  # the highest generation seen
        self.kept: dict[str, int] = {}

    def report(self) -> RepairReport:
        return RepairReport(
            self.storage.root, self.folder, self.kept, tuple(self.fixed), tuple(self.lost)
        )

    def quarantine(self, name: str, move: bool = False) -> None:
        """Copy (or move) the store file ``name`` into this repair's quarantine folder."""
        if self.folder is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self.folder = self.storage.path(os.path.join("quarantine", stamp))
            n = 1
            while os.path.exists(self.folder):
                n += 1
                self.folder = self.storage.path(os.path.join("quarantine", f"{stamp}-{n}"))
        target = os.path.join(self.folder, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        (shutil.move if move else shutil.copy2)(self.storage.path(name), target)

    def run(self) -> None:
        self._format()
        state = self._snapshot()
        self._journals(state)
        self._streams(state)
        self._artifacts(state)
        left = self.storage.cleanup()
        if left:
            self.fixed.append(f"removed {len(left)} temporary files of dead writers")
        state.generation = self.top + 1
        self.storage.write_snapshot(state.snapshot(), state.generation)
        self.storage.write_format(SCHEMA)
        for name in self.superseded:
            self.storage.remove_stream_file(name)
        self.kept = {
            "runs": len(state.tables.get("runs", {})),
            "experiments": len(state.tables.get("experiments", {})),
            "documents": sum(len(d) for t, d in state.tables.items() if not t.startswith("_")),
        }
        if self.folder is not None:
            with open(os.path.join(self.folder, "REPORT.txt"), "w", encoding="utf-8") as fh:
                fh.write("\n".join(self.report().lines()) + "\n")

    # -- format and snapshot ----------------------------------------------------------------
    def _format(self) -> None:
        try:
            schema = self.storage.read_format()
        except StoreError:
            self.quarantine("FORMAT")
            self.fixed.append("FORMAT could not be read: rewritten")
            return
        refuse_newer(self.storage, schema)
        if schema is None:
            self.fixed.append("FORMAT was missing: rewritten")

    def _snapshot(self) -> State:
        try:
            data = self.storage.read_snapshot()
        except SnapshotError as e:
            self.quarantine("store.json")
            self.lost.append(f"store.json ({e}): everything recorded before its journal")
            data = None
        if data is None:
            journals = self.storage.journals()
            state = State(journals[0] if journals else 0, SCHEMA)
            if journals and journals[0] > 0:
                self.lost.append(
                    f"store.json is missing: everything before journal-{journals[0]}.jsonl"
                )
        else:
            state = self._salvage(data)
        self.top = state.generation
        return state

    def _salvage(self, data: Any) -> State:
        try:
            return State.from_snapshot(data)
        except SnapshotError as e:
            self.quarantine("store.json")
            problem = str(e)
        if not isinstance(data, dict):
            self.lost.append(f"store.json ({problem}): everything recorded before its journal")
            return State()
        meta = data.get(META)
        state = State.from_snapshot({META: meta} if meta is not None else {})
        bad = 0
        for table, docs in data.items():
            if table == META or not isinstance(docs, dict):
                bad += table != META
                continue
            for doc_id, doc in docs.items():
                try:
                    one = State.from_snapshot({META: meta, table: {doc_id: doc}})
                except SnapshotError:
                    bad += 1
                    continue
                for key, kept in one.tables.get(table, {}).items():
                    state.apply([["put", table, key, kept]])
        self.lost.append(f"store.json: {bad} documents could not be read ({problem})")
        return state

    # -- journals ---------------------------------------------------------------------------
    def _journals(self, state: State) -> None:
        for generation in self.storage.journals():
            self.top = max(self.top, generation)
            if generation >= state.generation:
                self._journal(state, generation)

    def _journal(self, state: State, generation: int) -> None:
        name = f"journal-{generation}.jsonl"
        data, end = self.storage.read_journal(generation, 0)
        reasons: list[str] = []
        for line in data.split(b"\n")[:-1]:
            try:
                decoded = journal.decode_any(line)
                state.apply(state.check(decoded))
            except journal.TornLine:
                self.fixed.append(f"{name}: dropped a line torn by a killed writer")
            except journal.LineError as e:
                reasons.append(str(e))
        tail = self.storage.journal_size(generation) - end
        if tail:
            self.fixed.append(f"{name}: dropped {tail} bytes of an unfinished write")
        if reasons:
            self.quarantine(name)
            shown = "; ".join(sorted(set(reasons))[:3])
            self.lost.append(f"{name}: {len(reasons)} transactions ({shown})")

    # -- streams ------------------------------------------------------------------------------
    def _streams(self, state: State) -> None:
        docs = stream_docs(state, self.storage)
        for name in list(state.tables.get(STREAMS, {})):
            if name not in docs:
                state.apply([["del", STREAMS, name, None]])
        runs = state.tables.get("runs", {})
        for name, doc in sorted(docs.items()):
            kept = self._stream(state, name, doc, runs)
            state.apply([["put", STREAMS, name, kept] if kept else ["del", STREAMS, name, None]])
        for run_id, run in runs.items():
            if run.get("metrics") and metrics_stream(run_id) not in docs:
                self.lost.append(
                    f"the metric history of run {run_id} (its log is missing; "
                    "the summaries are kept)"
                )
        committed = {d.get("file", n) for n, d in state.tables.get(STREAMS, {}).items()}
        for name in self.storage.list_streams():
            if name not in committed and name not in self.superseded:
                self.quarantine(name, move=True)
                self.fixed.append(f"{name}: no commit referred to it, moved to quarantine")

    def _stream(
        self, state: State, name: str, doc: dict[str, Any], runs: dict[str, Any]
    ) -> dict[str, Any] | None:
        file, length = doc.get("file", name), doc["length"]
        if not os.path.exists(self.storage.path(file)):
            if length:
                self.lost.append(f"{file}: missing ({length} committed bytes)")
            return None
        size = self.storage.stream_size(file)
        if size < length:
            self.lost.append(f"{file}: {length - size} committed bytes at its end are missing")
            length = complete_length(self.storage, file)
        data = self.storage.read_stream(file, 0, length)
        if name.startswith("metrics/"):
            run_id = os.path.basename(name)[: -len(".tsv")]
            if run_id not in runs:
                self.quarantine(file, move=True)
                self.lost.append(f"{file}: the metric log of a run that is not in the store")
                return None
            new = self._metrics(state, file, data, runs[run_id])
        else:
            new = self._records(file, data)
        if new == data:
            self.storage.truncate_stream(file, length)
            return {**doc, "length": length}
        self.quarantine(file)
        version = doc.get("version", 0) + 1
        stem, ext = os.path.splitext(name)
        kept = {"file": f"{stem}@{version}{ext}", "length": len(new), "version": version}
        self.storage.write_stream_file(kept["file"], new)
        self.superseded.append(file)
        return kept

    def _records(self, file: str, data: bytes) -> bytes:
        lines = data.split(b"\n")[:-1]
        good = [line for line in lines if _json(line)]
        if len(good) < len(lines):
            self.lost.append(f"{file}: {len(lines) - len(good)} records could not be read")
        return b"".join(line + b"\n" for line in good)

    def _metrics(self, state: State, file: str, data: bytes, run: dict[str, Any]) -> bytes:
        lines = data.split(b"\n")[:-1]
        good = [line for line in lines if POINT_LINE.fullmatch(line)]
        if len(good) < len(lines):
            self.lost.append(f"{file}: {len(lines) - len(good)} metric points could not be read")
        want = {
            k: s.get("count") for k, s in (run.get("metrics") or {}).items() if isinstance(s, dict)
        }
        if _counts(good) != want:
            unique = list(dict.fromkeys(good))
            if len(unique) < len(good) and _counts(unique) == want:
                self.fixed.append(f"{file}: removed {len(good) - len(unique)} duplicated points")
                good = unique
            else:
                self._resummarize(state, run, good)
        return b"".join(line + b"\n" for line in good)

    def _resummarize(self, state: State, run: dict[str, Any], lines: list[bytes]) -> None:
        points = parse_points(b"".join(line + b"\n" for line in lines))
        fresh = {key: summarize({}, pts)[key] for key, pts in points.items()}
        state.apply([["merge", "runs", run["run_id"], {"metrics": fresh}]])
        self.fixed.append(
            f"run {run['run_id']}: summaries of {', '.join(sorted(fresh))} "
            "recomputed from its metric log"
        )

    # -- artifacts ----------------------------------------------------------------------------
    def _artifacts(self, state: State) -> None:
        refs = referenced_blobs(state)
        dropped: dict[str, set[str]] = {}
        for sha, users in refs.items():
            path = self.storage.blob_file(sha)
            rel = os.path.relpath(path, self.storage.root)
            if not os.path.exists(path):
                why = "its file is missing"
            elif sha256_of(path) != sha:
                self.quarantine(rel, move=True)
                why = "its file no longer matched its sha256 (moved to quarantine)"
            else:
                continue
            for run_id, artifact in users:
                dropped.setdefault(run_id, set()).add(artifact)
                self.lost.append(f"artifact {artifact!r} of run {run_id}: {why}")
        for run_id, paths in dropped.items():
            run = state.tables["runs"][run_id]
            kept = {p: r for p, r in run["artifacts"].items() if p not in paths}
            state.apply([["put", "runs", run_id, {**run, "artifacts": kept}]])
        now = time.time()
        for name, rel in list(blob_files(self.storage)):
            if name not in refs and now - os.stat(self.storage.path(rel)).st_mtime > ORPHAN_AGE_S:
                self.quarantine(rel, move=True)
                self.fixed.append(f"{rel}: no run referred to it, moved to quarantine")


def _counts(lines: list[bytes]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        key = line.split(b"\t", 1)[0].decode()
        counts[key] = counts.get(key, 0) + 1
    return counts


def _json(line: bytes) -> bool:
    import json

    try:
        json.loads(line)
    except ValueError:
        return False
    return True
