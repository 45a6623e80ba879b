"""Damaged store files: the store recovers exactly or refuses with one message; check and repair.

Also the on-disk format itself: ``store.json`` is a plain TinyDB database from the start, and a
schema-1 store written by jupyter_mlops 5602d6b (``tests/data/schema1-store``) is migrated.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import zlib

import pytest
from tinydb import Query, TinyDB

import jupyter_mlops as mlops
from jupyter_mlops.errors import StoreDamaged
from jupyter_mlops.store.check import check_store
from jupyter_mlops.store.embedded import EmbeddedStore
from jupyter_mlops.store.repair import repair_store

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def new_run(store, name="r", **extra):
    exp = store.get_or_create_experiment("recovery")
    run_id = uuid.uuid4().hex
    doc = {"run_id": run_id, "run_name": name, "experiment_id": exp["experiment_id"]}
    store.create_run({**doc, "status": "FINISHED", "params": {}, "metrics": {}, **extra})
    return run_id


def run_names(store):
    return sorted(r["run_name"] for r in store.list_runs())


def framed(body: bytes) -> bytes:
    """A journal line with a correct checksum around ``body`` (for well-framed damage)."""
    return b"%08x %s\n" % (zlib.crc32(body), body)


def cli(*args):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", *args], env=env, capture_output=True, text=True
    )


# -- the format: TinyDB from the start ---------------------------------------------------------
def test_store_json_is_a_tinydb_database_from_creation(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_COMPACT_BYTES", "3000")
    store = EmbeddedStore.open(str(tmp_path))
    assert TinyDB(str(tmp_path / "store.json"), access_mode="r").tables() == {"_meta"}
    ids = [new_run(store, name=f"r{i}", params={"i": str(i)}) for i in range(30)]
    assert not (tmp_path / "journal-0.jsonl").exists()  # compacted at least once

    db = TinyDB(str(tmp_path / "store.json"), access_mode="r")
    assert {"runs", "experiments"} <= db.tables()
    found = db.table("runs").search(Query().params.i == "7")
    assert [d["run_name"] for d in found] == ["r7"]
    assert found[0]["_key"] == found[0]["run_id"] == ids[7]
    assert all(isinstance(d.doc_id, int) for d in db.table("runs").all())


def test_mlops_tinydb_is_the_current_state_read_only(tracking_store):
    with mlops.start_run(name="rf", experiment="tiny") as run:
        mlops.log_params({"model": "rf"})
        mlops.log_metric("acc", 0.93)
    db = mlops.tinydb()
    Run = Query()
    (doc,) = db.table("runs").search(Run.params.model == "rf")
    assert doc["_key"] == run.id and doc["metrics"]["acc"]["last"] == 0.93
    assert db.table("runs").get(doc_id=doc.doc_id)["run_name"] == "rf"
    with mlops.start_run(name="later", experiment="tiny"):
        pass
    assert len(db.table("runs").search(Run.experiment == "tiny")) == 2  # sees new commits
    with pytest.raises(mlops.ReadOnlyStore, match="read-only view"):
        db.table("runs").insert({"run_name": "x"})


def test_document_ids_are_stable_and_the_same_in_every_process(tmp_path):
    a = EmbeddedStore.open(str(tmp_path))
    first, second = new_run(a, "one"), new_run(a, "two")
    a.transact(lambda txn: txn.delete("runs", second))
    third = new_run(a, "three")
    b = EmbeddedStore.open(str(tmp_path))
    ids = {d["_key"]: int(i) for i, d in b.tinydb_data()["runs"].items()}
    assert ids == {first: 1, third: 3}  # an id is never given twice
    assert {d["_key"]: int(i) for i, d in a.tinydb_data()["runs"].items()} == ids


# -- schema 1 -------------------------------------------------------------------------------------
@pytest.fixture
def schema1(tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(os.path.join(DATA, "schema1-store"), folder)
    with open(os.path.join(DATA, "schema1-expected.json")) as fh:
        return str(folder), json.load(fh)


def seen(store, expected):
    runs = sorted(
        (r["run_name"], r["params"], {k: v["count"] for k, v in r["metrics"].items()})
        for r in store.list_runs()
    )
    histories = {
        rid: [p[1] for p in store.get_metric_history(rid, "loss")] for rid in expected["run_ids"]
    }
    return json.loads(json.dumps(runs)), histories, store.read_records("predictions/churn")[0]


def test_a_schema1_store_is_migrated_and_reads_the_same(schema1, monkeypatch):
    folder, expected = schema1
    store = EmbeddedStore.open(folder)
    assert seen(store, expected) == (expected["runs"], expected["histories"], expected["records"])
    assert json.load(open(os.path.join(folder, "FORMAT"))) == {"schema": 2}
    aliases = TinyDB(os.path.join(folder, "store.json"), access_mode="r").table("aliases").all()
    assert [a["_key"] for a in aliases] == ["churn@champion"]
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", folder)
    mlops.set_tracking_uri(folder)
    try:
        model = mlops.load_model("models:/churn@champion")  # sha256 checked on the way
        assert model.predict([[0.0, 1.0]]).shape == (1,)
        with mlops.start_run(name="new", experiment="churn"):
            mlops.log_metric("loss", 0.1)
    finally:
        mlops.flush()
        mlops.set_tracking_uri(None)
    report = check_store(folder)
    assert report.ok, report.lines()
    assert "new" in run_names(EmbeddedStore.open(folder))


# -- damaged journals ---------------------------------------------------------------------------
DAMAGE = {
    "garbled bytes": lambda line: line[:20] + b"#" + line[21:],
    "not framed": lambda line: b'[["put","runs","x",{}]]\n',
    "wrong shape": lambda line: framed(b'[["put","runs"]]'),
    "a run without experiment": lambda line: framed(b'[["put","runs","x",{"run_id":"x"}]]'),
    "a change to a missing run": lambda line: framed(b'[["merge","runs","nope",{"a":1}]]'),
    "a stream without length": lambda line: framed(b'[["put","_streams","s",{"file":"s"}]]'),
    "not JSON": lambda line: framed(b"[[not json"),
    "binary": lambda line: b"\x00\xff\x13" * 30 + b"\n",
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_line_refuses_with_one_message_and_repair_keeps_the_rest(tmp_path, kind):
    store = EmbeddedStore.open(str(tmp_path))
    before = [new_run(store, f"before-{i}") for i in range(3)]
    running = EmbeddedStore.open(str(tmp_path))  # has read up to here
    after = [new_run(store, f"after-{i}") for i in range(2)]
    journal = tmp_path / "journal-0.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged_at = len(lines) - 2  # the first "after" run
    offset = sum(map(len, lines[:damaged_at]))
    lines[damaged_at] = DAMAGE[kind](lines[damaged_at])
    journal.write_bytes(b"".join(lines))

    with pytest.raises(StoreDamaged) as refused:
        EmbeddedStore.open(str(tmp_path))
    message = str(refused.value)
    assert f"{journal} is damaged" in message and f"byte {offset}" in message
    assert "3 runs so far" in message and "the 1 complete lines after it" in message
    assert f"jupyter mlops store repair {tmp_path}" in message
    with pytest.raises(StoreDamaged):  # a running process too: it never skips the line
        running.list_runs()
    with pytest.raises(StoreDamaged):
        new_run(running, "not written after damage")
    assert journal.read_bytes() == b"".join(lines)  # nothing was changed

    report = check_store(str(tmp_path))
    assert not report.ok and [f.file for f in report.findings if f.severity == "damage"] == [
        "journal-0.jsonl"
    ]
    repaired = repair_store(str(tmp_path))
    assert len(repaired.lost) == 1 and "journal-0.jsonl: 1 transactions" in repaired.lost[0]
    assert os.path.exists(os.path.join(repaired.quarantine, "journal-0.jsonl"))
    names = run_names(EmbeddedStore.open(str(tmp_path)))
    assert names == sorted([f"before-{i}" for i in range(3)] + ["after-1"])
    assert run_names(running) == names  # the running process reloads the repaired store
    assert check_store(str(tmp_path)).ok and before and after


def test_a_torn_tail_is_cut_by_the_next_writer_and_is_not_damage(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    first = new_run(store)
    journal = tmp_path / "journal-0.jsonl"
    with open(journal, "ab") as fh:
        fh.write(framed(b'[["put","runs","torn",{"run_id":"torn","experiment_id":"0"}]]')[:40])
    assert [f.severity for f in check_store(str(tmp_path)).findings] == ["note"]
    second = new_run(EmbeddedStore.open(str(tmp_path)))
    assert {r["run_id"] for r in EmbeddedStore.open(str(tmp_path)).list_runs()} == {first, second}
    assert journal.read_bytes().endswith(b"\n") and b"torn" not in journal.read_bytes()
    assert check_store(str(tmp_path)).findings == ()


def test_a_lost_snapshot_with_a_later_journal_is_refused_never_emptied(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_COMPACT_BYTES", "3000")
    store = EmbeddedStore.open(str(tmp_path))
    old = [new_run(store, f"old-{i}") for i in range(25)]
    (journal,) = [n for n in os.listdir(tmp_path) if n.startswith("journal-")]
    assert journal != "journal-0.jsonl"
    new = new_run(store, "new")
    store.update_run(old[0], status="KILLED")  # a change to a run from before the snapshot
    snapshot = TinyDB(str(tmp_path / "store.json"), access_mode="r")
    in_snapshot = {d["_key"] for d in snapshot.table("runs").all()}
    snapshot.close()
    assert old[0] in in_snapshot and new not in in_snapshot
    (tmp_path / "store.json").unlink()

    with pytest.raises(
        StoreDamaged, match=f"store.json is damaged: it is missing. Intact: {journal}"
    ):
        EmbeddedStore.open(str(tmp_path))
    assert (tmp_path / journal).stat().st_size > 0  # and the journal is still there
    repaired = repair_store(str(tmp_path))
    assert any("everything before" in line for line in repaired.lost)
    kept = {r["run_id"] for r in EmbeddedStore.open(str(tmp_path)).list_runs()}
    assert new in kept and kept == set(old + [new]) - in_snapshot


@pytest.mark.parametrize(
    "content",
    [
        b'{"_meta": {"1": {"_key": "store"',
        b'{"runs": {"1": {"run_id": "x"}}, "_meta": {"1": '
        b'{"_key": "store", "schema": 2, "generation": 0}}}',
        b"[1, 2]",
    ],
    ids=["cut JSON", "a document without _key", "not tables"],
)
def test_a_damaged_snapshot_is_refused_and_repair_keeps_the_journal(tmp_path, content):
    store = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(store)
    (tmp_path / "store.json").write_bytes(content)
    with pytest.raises(StoreDamaged, match="store.json is damaged.*store repair"):
        EmbeddedStore.open(str(tmp_path))
    repaired = repair_store(str(tmp_path))
    assert repaired.lost and os.path.exists(os.path.join(repaired.quarantine, "store.json"))
    assert [r["run_id"] for r in EmbeddedStore.open(str(tmp_path)).list_runs()] == [run_id]


def test_a_missing_format_file_is_refused_and_rewritten_by_repair(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(store)
    (tmp_path / "FORMAT").unlink()
    with pytest.raises(StoreDamaged, match="FORMAT is damaged: it is missing"):
        EmbeddedStore.open(str(tmp_path))
    assert "FORMAT was missing: rewritten" in repair_store(str(tmp_path)).fixed
    assert [r["run_id"] for r in EmbeddedStore.open(str(tmp_path)).list_runs()] == [run_id]


# -- metric logs and artifacts ---------------------------------------------------------------------
def metric_log(root, run_id):
    return root / "metrics" / run_id[:2] / f"{run_id}.tsv"


def test_duplicated_points_of_an_old_failed_flush_are_found_and_removed(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(store)
    store.log_metric_points(run_id, [("loss", 1.0 / (i + 1), i, 1000 + i) for i in range(5)])
    log = metric_log(tmp_path, run_id)
    # What schema 1 could leave: a batch appended, its commit failed, the retry appended it again.
    name = f"metrics/{run_id[:2]}/{run_id}.tsv"
    doubled = log.read_bytes() + log.read_bytes()[-60:].split(b"\n", 1)[1]
    log.write_bytes(doubled)
    store.transact(lambda txn: txn.put("_streams", name, {"file": name, "length": len(doubled)}))
    report = check_store(str(tmp_path))
    assert any("the log holds" in f.message and f.severity == "warning" for f in report.findings)
    repaired = repair_store(str(tmp_path))
    assert any("duplicated points" in line for line in repaired.fixed) and not repaired.lost
    fresh = EmbeddedStore.open(str(tmp_path))
    assert [p[2] for p in fresh.get_metric_history(run_id, "loss")] == list(range(5))
    assert check_store(str(tmp_path)).ok


def test_a_cut_metric_log_is_damage_and_repair_keeps_its_whole_lines(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(store)
    store.log_metric_points(run_id, [("loss", float(i), i, 1000 + i) for i in range(10)])
    log = metric_log(tmp_path, run_id)
    log.write_bytes(log.read_bytes()[:-5])
    with pytest.raises(StoreDamaged, match="fewer bytes than were committed"):
        EmbeddedStore.open(str(tmp_path)).get_metric_history(run_id, "loss")
    assert [f.severity for f in check_store(str(tmp_path)).findings] == ["damage"]
    repaired = repair_store(str(tmp_path))
    assert any("committed bytes at its end are missing" in line for line in repaired.lost)
    fresh = EmbeddedStore.open(str(tmp_path))
    assert [p[2] for p in fresh.get_metric_history(run_id, "loss")] == list(range(9))
    assert fresh.get_run(run_id)["metrics"]["loss"]["count"] == 9  # recomputed from the log
    assert check_store(str(tmp_path)).ok


def test_artifacts_changed_missing_or_orphaned(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(store)
    for name in ("good", "changed", "gone"):
        (tmp_path / name).write_text(name)
        store.put_artifact(run_id, f"{name}.txt", str(tmp_path / name))
    arts = store.get_run(run_id)["artifacts"]
    blob = {n: tmp_path / "artifacts" / a["sha256"][:2] / a["sha256"] for n, a in arts.items()}
    blob["changed.txt"].write_text("evil")
    blob["gone.txt"].unlink()
    (tmp_path / "orphan").write_text("never committed")
    orphan = tmp_path / "artifacts" / store.storage.put_blob(str(tmp_path / "orphan"))[0][:2]
    (orphan_file,) = orphan.iterdir()
    os.utime(orphan_file, (time.time() - 7200,) * 2)

    findings = {(f.severity, f.message.split(":")[0]) for f in check_store(str(tmp_path)).findings}
    assert findings == {
        ("damage", "missing"),
        ("damage", "does not match its sha256"),
        ("warning", "no run refers to it (a write that failed before its commit)"),
    }
    assert check_store(str(tmp_path), hashes=False).findings[0].message.startswith("missing")
    repaired = repair_store(str(tmp_path))
    assert sorted(line.split(":")[0] for line in repaired.lost) == [
        f"artifact 'changed.txt' of run {run_id}",
        f"artifact 'gone.txt' of run {run_id}",
    ]
    assert sorted(EmbeddedStore.open(str(tmp_path)).get_run(run_id)["artifacts"]) == ["good.txt"]
    assert check_store(str(tmp_path)).ok
    assert sorted(os.listdir(os.path.join(repaired.quarantine, "artifacts"))) == sorted(
        {blob["changed.txt"].parent.name, orphan.name}
    )


# -- the command line -----------------------------------------------------------------------------
def test_store_check_and_repair_on_the_command_line(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    new_run(store, "kept")
    new_run(store, "lost")
    journal = tmp_path / "journal-0.jsonl"
    journal.write_bytes(journal.read_bytes()[:-30] + b"#" * 29 + b"\n")

    done = cli("store", "check", str(tmp_path))
    assert done.returncode == 1 and "damage  journal-0.jsonl: line at byte" in done.stdout
    opened = cli("--store", str(tmp_path), "runs")
    assert opened.returncode == 2 and "Traceback" not in opened.stderr
    assert opened.stderr.count("\n") == 1 and "is damaged" in opened.stderr
    done = cli("store", "repair", str(tmp_path))
    assert done.returncode == 0 and "LOST   journal-0.jsonl: 1 transactions" in done.stdout
    assert "unreadable files were kept in" in done.stdout
    done = cli("--store", str(tmp_path), "store", "check")
    assert done.returncode == 0 and done.stdout.endswith("ok: everything recorded can be read.\n")
    assert "kept" in cli("--store", str(tmp_path), "runs").stdout
    refused = cli("store", "check", "memory:")
    assert refused.returncode == 2 and "works on an embedded store folder" in refused.stderr
