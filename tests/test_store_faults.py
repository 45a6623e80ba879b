"""Full disks, failing writes and dead writers' leftovers, for real.

- an error injected at each write of a whole workload in turn, through the storage's fault seam
  (:data:`jupyter_mlops.store.files.FAULT`): every failure is one ``StoreError``, leaves nothing
  partial behind (a fresh reader sees the state before the call) and the retry goes through;
- a real full disk: a small tmpfs (these tests run as root, as CI does; they fail, never skip,
  when mounting is impossible);
- leftovers of dead writers removed at open, a live writer's kept.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.errors import DiskFull, StoreError
from jupyter_mlops.store import files
from jupyter_mlops.store.check import check_store
from jupyter_mlops.store.embedded import EmbeddedStore
from jupyter_mlops.tracking.buffer import MetricBuffer

RUN = "f" * 32
POINTS = [("loss", 1.0 / (i + 1), i, 1000 + i) for i in range(120)]
RECORDS = [{"i": i} for i in range(8)]


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of ``size`` mounted at ``path`` (unmounted at the end)."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


# -- an error at each write in turn ------------------------------------------------------------
class Plan:
    """Fail the ``fail_at``-th write operation once with ``code`` (0: never; just count)."""

    def __init__(self, fail_at: int = 0, code: int = errno.ENOSPC) -> None:
        self.fail_at, self.code, self.count = fail_at, code, 0
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, op: str, path: str) -> None:
        self.count += 1
        name = os.path.basename(path)
        self.seen.add((op, name.split("-")[0] if "." not in name[1:] else name.split(".")[-1]))
        if self.count == self.fail_at:
            raise OSError(self.code, os.strerror(self.code), path)


def view(root):
    """What a fresh reader sees (it must open: a failed write never damages the store)."""
    store = EmbeddedStore.open(root)
    runs = store.documents("runs")
    history = store.get_metric_history(RUN, "loss") if RUN in runs else []
    blobs = {}
    for path in runs.get(RUN, {}).get("artifacts", {}):
        with open(store.artifact_file(RUN, path), "rb") as fh:
            blobs[path] = fh.read()
    return runs, history, store.read_records("pred/x")[0], blobs


def workload(root, src, failures):
    """Every kind of write; a call that fails is checked and retried, as the buffer does."""
    store = None

    def call(fn):
        before = view(root) if os.path.exists(os.path.join(root, "FORMAT")) else None
        try:
            return fn()
        except StoreError as e:
            failures.append(e)
        assert before is None or view(root) == before  # nothing partial was left
        return fn()

    store = call(lambda: EmbeddedStore.open(root))
    exp = call(lambda: store.get_or_create_experiment("faults"))
    doc = {"run_id": RUN, "run_name": "f", "experiment_id": exp["experiment_id"], "metrics": {}}
    call(lambda: store.create_run({**doc, "status": "RUNNING", "params": {}}))
    call(lambda: store.log_params(RUN, {"a": "1"}))
    for start in range(0, len(POINTS), 30):
        call(lambda start=start: store.log_metric_points(RUN, POINTS[start : start + 30]))
    call(lambda: store.put_artifact(RUN, "model.bin", src))
    call(lambda: store.append_records("pred/x", RECORDS[:5]))
    call(lambda: store.trim_records("pred/x", 3))
    call(lambda: store.append_records("pred/x", RECORDS[5:]))
    call(lambda: store.update_run(RUN, status="FINISHED"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_an_error_at_each_write_in_turn_leaves_nothing_partial(tmp_path, monkeypatch, code):
    monkeypatch.setenv("JUPYTER_MLOPS_COMPACT_BYTES", "3000")  # compactions happen too
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(3000))
    counter = Plan()
    monkeypatch.setattr(files, "FAULT", counter)
    workload(str(tmp_path / "reference"), str(src), [])
    monkeypatch.setattr(files, "FAULT", None)
    expected = view(str(tmp_path / "reference"))
    assert expected[1] == POINTS and [r["i"] for r in expected[2]] == [2, 3, 4, 5, 6, 7]
    kinds = {("write", "jsonl"), ("write", "tsv"), ("write", "blob"), ("write", "stream")}
    kinds |= {("replace", "json"), ("replace", "FORMAT"), ("fsync", ".snapshot")}
    assert kinds <= counter.seen  # every kind of write the store makes

    surfaced = 0
    for n in range(1, counter.count + 1):
        root = str(tmp_path / f"fail-{n}")
        failures: list[StoreError] = []
        monkeypatch.setattr(files, "FAULT", Plan(n, code))
        workload(root, str(src), failures)
        monkeypatch.setattr(files, "FAULT", None)
        assert view(root) == expected, f"write {n}"
        findings = check_store(root).findings
        assert all(f.severity == "note" for f in findings), (n, findings)
        for failure in failures:
            if code == errno.ENOSPC:
                assert isinstance(failure, DiskFull)
                assert "is full" in str(failure) and "everything recorded before it" in str(failure)
            else:
                assert "Input/output error" in str(failure) and "was not recorded" in str(failure)
        surfaced += len(failures)
    # the rest were compaction writes and clean-ups, which never fail a call
    assert surfaced > counter.count // 2


# -- a real full disk -----------------------------------------------------------------------------
def fill(disk, leave):
    """Fill ``disk`` up, then give back ``leave`` bytes."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 4096)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_keeps_what_was_acknowledged_and_logging_resumes(tmp_path, monkeypatch):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        root = str(disk / "store")
        monkeypatch.setenv("JUPYTER_MLOPS_COMPACT_BYTES", "6000")
        mlops.set_tracking_uri(root)
        try:
            run = mlops.start_run(name="full", experiment="disk")
            mlops.log_params({"lr": 0.1})
            # the tracking buffer, with no background flushes: this test decides when
            buffer = MetricBuffer(mlops.get_store(), interval=3600)
            filler = fill(disk, leave=12_000)
            logged = 0
            for _ in range(40):  # batches of 100 points (~4 kB): the first ones fit
                for _ in range(100):
                    buffer.add(run.id, ("loss", 1.0 / (logged + 1), logged, 1000 + logged))
                    logged += 1
                with contextlib.suppress(DiskFull):
                    buffer.flush(raise_errors=True)
            with pytest.raises(DiskFull, match="is full .*everything recorded before it is kept"):
                buffer.flush(raise_errors=True)
            with pytest.warns(RuntimeWarning, match="is full") as warned:
                buffer.flush(raise_errors=False)  # what a cell's end does: tells once
                buffer.flush(raise_errors=False)
            assert len(warned) == 1 and "metric points are kept in memory" in str(warned[0].message)
            with pytest.raises(DiskFull, match="is full"):
                mlops.log_text("x" * 100_000, "notes.txt")

            other = EmbeddedStore.open(root)  # another process meanwhile: consistent, no doubles
            history = other.get_metric_history(run.id, "loss")
            assert 0 < len(history) < logged
            assert other.get_run(run.id)["metrics"]["loss"]["count"] == len(history)
            assert [p[2] for p in history] == list(range(len(history)))

            filler.unlink()  # space is back: logging goes on, no restart
            buffer.flush(raise_errors=True)
            mlops.log_text("x" * 100_000, "notes.txt")
            mlops.end_run()
            history = other.get_metric_history(run.id, "loss")
            assert [p[2] for p in history] == list(range(logged))
            done = other.get_run(run.id)
            assert done["metrics"]["loss"]["count"] == logged and done["status"] == "FINISHED"
            assert list(done["artifacts"]) == ["notes.txt"]
            assert all(f.severity == "note" for f in check_store(root).findings)
        finally:
            with contextlib.suppress(Exception):
                mlops.end_run()
            mlops.flush()
            mlops.set_tracking_uri(None)


def test_a_compaction_on_a_full_disk_fails_quietly_and_the_commit_stands(tmp_path, monkeypatch):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        root = str(disk / "store")
        monkeypatch.setenv("JUPYTER_MLOPS_COMPACT_BYTES", "20000")
        store = EmbeddedStore.open(root)
        exp = store.get_or_create_experiment("c")
        doc = {"run_id": RUN, "run_name": "c", "experiment_id": exp["experiment_id"]}
        store.create_run({**doc, "params": {f"p{i}": "x" * 3000 for i in range(5)}})
        fill(disk, leave=12_000)  # room for small commits, not for a 22 kB snapshot
        for i in range(40):
            store.set_tags(RUN, {f"t{i}": "v" * 100})  # past 20 kB each commit may compact
        journal = os.path.join(root, "journal-0.jsonl")
        assert os.path.getsize(journal) > 20000  # a compaction was due, and failed
        assert not any(n.startswith(".snapshot-") for n in os.listdir(root))
        assert len(EmbeddedStore.open(root).get_run(RUN)["tags"]) == 40
        (disk / "filler").unlink()
        for i in range(40, 100):
            store.set_tags(RUN, {f"t{i}": "v"})
            if not os.path.exists(journal):
                break
        assert not os.path.exists(journal)  # compacted once there was room
        assert len(EmbeddedStore.open(root).get_run(RUN)["tags"]) == i + 1


# -- leftovers of dead writers ---------------------------------------------------------------
def test_dead_writers_leftovers_go_at_open_a_live_writers_stay(tmp_path):
    EmbeddedStore.open(str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    old = time.time() - 7200
    made = {
        ".snapshot-abc123": None,
        f"tmp/blob-{dead.pid}-x1": None,
        f"tmp/stream-{dead.pid}-x2": None,
        "tmp/blob-oldstyle": old,  # schema 1 named them without a pid
        f"tmp/blob-{os.getpid()}-live": None,
        "tmp/blob-recent": None,
    }
    for name, mtime in made.items():
        (tmp_path / name).write_bytes(b"x" * 1000)
        if mtime:
            os.utime(tmp_path / name, (mtime, mtime))
    EmbeddedStore.open(str(tmp_path))
    left = {n for n in made if (tmp_path / n).exists()}
    assert left == {f"tmp/blob-{os.getpid()}-live", "tmp/blob-recent"}
