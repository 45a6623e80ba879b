"""The store's behaviour: one suite on memory, on disk and on a real MLflow tracking server.

Tests name their experiments, tables and streams with a unique suffix, because the MLflow server
is shared by the session (it takes seconds to start).
"""

from __future__ import annotations

import json
import os
import uuid

import pytest

from jupyter_mlops.errors import Conflict, IntegrityError, InvalidInput, NotFound, StoreError
from jupyter_mlops.store.embedded import EmbeddedStore


@pytest.fixture(params=["memory", "disk", "mlflow"])
def store(request, tmp_path, monkeypatch):
    if request.param == "memory":
        return EmbeddedStore.open("memory:")
    if request.param == "disk":
        return EmbeddedStore.open(str(tmp_path / "store"))
    from jupyter_mlops.store.mlflow import MlflowStore

    monkeypatch.setenv("JUPYTER_MLOPS_CACHE", str(tmp_path / "cache"))
    return MlflowStore("mlflow+" + request.getfixturevalue("mlflow_server"))


EXPERIMENT = f"exp-{uuid.uuid4().hex[:8]}"


def new_run(store, name="r", status="RUNNING", **extra):
    exp = store.get_or_create_experiment(EXPERIMENT)
    doc = {
        "run_id": uuid.uuid4().hex,
        "run_name": name,
        "experiment_id": exp["experiment_id"],
        "status": status,
        "start_time": 1,
        "params": {},
        "metrics": {},
        "tags": {},
        **extra,
    }
    return store.create_run(doc)["run_id"]


def test_experiments_are_created_once_with_counts(store, unique):
    a = store.get_or_create_experiment(f"a-{unique}")
    assert store.get_or_create_experiment(f"a-{unique}") == a
    b = store.get_or_create_experiment(f"b-{unique}")
    assert a["experiment_id"] != b["experiment_id"]
    exp = store.get_or_create_experiment(f"exp-{unique}")
    store.create_run(
        {
            "run_id": uuid.uuid4().hex,
            "run_name": "r",
            "start_time": 1,
            "experiment_id": exp["experiment_id"],
            "status": "RUNNING",
        }
    )
    counts = {e["name"]: e["run_count"] for e in store.list_experiments() if unique in e["name"]}
    assert counts == {f"a-{unique}": 0, f"b-{unique}": 0, f"exp-{unique}": 1}


def test_run_lifecycle_params_tags(store):
    run_id = new_run(store)
    store.log_params(run_id, {"lr": "0.1"})
    store.log_params(run_id, {"lr": "0.1", "depth": "3"})  # same value again is fine
    store.set_tags(run_id, {"t": "1"})
    store.set_tags(run_id, {"t": "2"})  # tags can change
    store.update_run(run_id, status="FINISHED", end_time=5)
    run = store.get_run(run_id)
    assert run["params"] == {"lr": "0.1", "depth": "3"}
    assert run["tags"] == {"t": "2"}
    assert (run["status"], run["end_time"]) == ("FINISHED", 5)


def test_param_with_another_value_is_refused_with_advice(store):
    run_id = new_run(store)
    store.log_params(run_id, {"lr": "0.1"})
    with pytest.raises(Conflict, match="write-once.*new run"):
        store.log_params(run_id, {"lr": "0.2"})
    assert store.get_run(run_id)["params"] == {"lr": "0.1"}


def test_unknown_run_is_not_found(store):
    with pytest.raises(NotFound, match="No run with id"):
        store.get_run("nope")
    with pytest.raises(NotFound):
        store.log_params("nope", {"a": "1"})


def test_metric_history_and_summaries(store):
    run_id = new_run(store)
    store.log_metric_points(run_id, [("loss", 1.0, 0, 10), ("loss", 0.5, 1, 11)])
    store.log_metric_points(run_id, [("loss", float("nan"), 2, 12), ("acc", 0.9, 0, 12)])
    history = store.get_metric_history(run_id, "loss")
    assert [p[2] for p in history] == [0, 1, 2]
    summary = store.get_run(run_id)["metrics"]["loss"]
    assert summary["count"] == 3 and summary["min"] == 0.5 and summary["max"] == 1.0
    assert summary["step"] == 2 and summary["last"] != summary["last"]  # NaN is last
    assert store.get_metric_history(run_id, "acc") == [("acc", 0.9, 0, 12)]
    assert store.get_metric_history(run_id, "missing") == []


def test_metric_key_prefix_does_not_leak(store):
    run_id = new_run(store)
    store.log_metric_points(run_id, [("a", 1.0, 0, 1), ("ab", 2.0, 0, 1)])
    assert [p[0] for p in store.get_metric_history(run_id, "a")] == ["a"]


def test_datasets_deduplicated_by_digest_and_context(store):
    run_id = new_run(store)
    ds = {"name": "iris", "digest": "abc", "context": "training"}
    store.add_dataset(run_id, ds)
    store.add_dataset(run_id, ds)
    store.add_dataset(run_id, {**ds, "context": "eval"})
    assert len(store.get_run(run_id)["datasets"]) == 2


def test_artifacts_are_content_addressed_and_verified(store, tmp_path):
    run_id = new_run(store)
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    record = store.put_artifact(run_id, "model/model.bin", str(src))
    assert record["size"] == 7 and len(record["sha256"]) == 64
    assert open(store.artifact_file(run_id, "model/model.bin"), "rb").read() == b"weights"
    with pytest.raises(NotFound):
        store.artifact_file(run_id, "model/other.bin")


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "", "."])
def test_artifact_paths_cannot_escape(store, tmp_path, bad):
    run_id = new_run(store)
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(InvalidInput, match="relative"):
        store.put_artifact(run_id, bad, str(src))


def test_failed_transaction_writes_nothing(store, unique):
    things = f"things_{unique}"

    def body(txn):
        txn.put(things, "1", {"a": 1})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.transact(body)
    assert store.documents(things) == {}


def test_transaction_reads_its_own_writes(store, unique):
    things = f"things_{unique}"

    def body(txn):
        txn.put(things, "1", {"a": 1, "d": {"x": 1}})
        txn.merge(things, "1", {"b": 2, "d": {"y": 2}})
        assert txn.get(things, "1") == {"a": 1, "b": 2, "d": {"x": 1, "y": 2}}
        assert set(txn.table(things)) == {"1"}
        txn.delete(things, "1")
        assert txn.get(things, "1") is None

    store.transact(body)
    assert store.documents(things) == {}


def test_documents_survive_and_change(store, unique):
    things = f"things_{unique}"
    big = "x" * 20_000  # longer than one MLflow tag holds
    store.transact(lambda txn: txn.put(things, "a/1", {"n": 1, "big": big, "d": {"x": 1}}))
    store.transact(lambda txn: txn.merge(things, "a/1", {"n": 2, "d": {"y": 2}}))
    store.transact(lambda txn: txn.put(things, "b", {"n": 3}))
    assert store.documents(things) == {
        "a/1": {"n": 2, "big": big, "d": {"x": 1, "y": 2}},
        "b": {"n": 3},
    }
    store.transact(lambda txn: txn.put(things, "a/1", {"n": 4}))
    store.transact(lambda txn: txn.delete(things, "b"))
    assert store.documents(things) == {"a/1": {"n": 4}}


def test_returned_documents_do_not_change_under_the_caller(store):
    run_id = new_run(store)
    before = store.get_run(run_id)
    store.set_tags(run_id, {"x": "1"})
    assert before["tags"] == {}


def test_dead_process_run_shows_as_killed(store):
    import socket

    pid = _dead_pid()
    run_id = new_run(store, host=socket.gethostname(), pid=pid, proc_start=None)
    assert store.get_run(run_id)["status"] == "KILLED"
    alive = new_run(store, host=socket.gethostname(), pid=os.getpid(), proc_start=None)
    assert store.get_run(alive)["status"] == "RUNNING"


def _dead_pid():
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- disk only ------------------------------------------------------------------------------
def test_two_instances_share_one_folder(tmp_path):
    a = EmbeddedStore.open(str(tmp_path))
    b = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(a)
    b.log_params(run_id, {"x": "1"})
    assert a.get_run(run_id)["params"] == {"x": "1"}


def test_compaction_keeps_everything_and_readers_follow(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_COMPACT_BYTES", "2000")
    writer = EmbeddedStore.open(str(tmp_path))
    reader = EmbeddedStore.open(str(tmp_path))
    ids = [new_run(writer, name=f"r{i}") for i in range(3)]
    assert len(reader.list_runs()) == 3
    ids += [new_run(writer, name=f"r{i}") for i in range(3, 60)]
    journals = [n for n in os.listdir(tmp_path) if n.startswith("journal-")]
    assert len(journals) == 1 and journals[0] != "journal-0.jsonl"
    assert {r["run_id"] for r in reader.list_runs()} == set(ids)
    assert {r["run_id"] for r in EmbeddedStore.open(str(tmp_path)).list_runs()} == set(ids)


def test_torn_journal_line_is_dropped_whole(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    first = new_run(store)
    with open(tmp_path / "journal-0.jsonl", "ab") as fh:
        fh.write(b'[["put","runs","torn",{"run_id":"to')  # a writer killed mid-line
    second = new_run(EmbeddedStore.open(str(tmp_path)))
    fresh = EmbeddedStore.open(str(tmp_path))
    assert {r["run_id"] for r in fresh.list_runs()} == {first, second}


def test_tampered_artifact_is_refused(tmp_path):
    store = EmbeddedStore.open(str(tmp_path))
    run_id = new_run(store)
    src = tmp_path / "m.pkl"
    src.write_bytes(b"good")
    record = store.put_artifact(run_id, "m.pkl", str(src))
    blob = tmp_path / "artifacts" / record["sha256"][:2] / record["sha256"]
    blob.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="does not match the sha256"):
        store.artifact_file(run_id, "m.pkl")
    blob.unlink()
    with pytest.raises(NotFound, match="missing"):
        store.artifact_file(run_id, "m.pkl")


def test_newer_schema_is_refused_with_upgrade_advice(tmp_path):
    EmbeddedStore.open(str(tmp_path))
    (tmp_path / "FORMAT").write_text(json.dumps({"schema": 99}))
    with pytest.raises(StoreError, match="newer jupyter_mlops.*pip install -U"):
        EmbeddedStore.open(str(tmp_path))


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="JUPYTER_MLOPS_STORE"):
        EmbeddedStore.open(str(blocker / "store"))


def test_record_streams_append_read_trim(store, unique):
    stream = f"predictions/dep-{unique}"
    assert store.read_records(stream) == ([], 0) and store.count_records(stream) == 0
    store.append_records(stream, [{"i": i} for i in range(10)])
    records, offset = store.read_records(stream)
    assert [r["i"] for r in records] == list(range(10)) and store.count_records(stream) == 10
    store.append_records(stream, [{"i": 10}])
    assert store.read_records(stream, offset)[0] == [{"i": 10}]
    assert store.trim_records(stream, 4) == 4
    assert [r["i"] for r in store.read_records(stream)[0]] == [7, 8, 9, 10]
    # an offset from before the trim starts over from the first record kept
    assert [r["i"] for r in store.read_records(stream, offset)[0]] == [7, 8, 9, 10]
    with pytest.raises(InvalidInput, match="stream name"):
        store.append_records("../escape", [{"i": 1}])
