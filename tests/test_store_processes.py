"""Real processes against one store folder: concurrent writers, and writers killed mid-write."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from jupyter_mlops.store.embedded import EmbeddedStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WRITER = textwrap.dedent(
    """
    import sys
    import jupyter_mlops as mlops
    mlops.set_tracking_uri(sys.argv[1])
    worker, runs, points = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for r in range(runs):
        with mlops.start_run(name=f"w{worker}-r{r}", experiment=f"exp{worker % 2}"):
            mlops.log_params({"worker": worker, "r": r})
            for i in range(points):
                mlops.log_metric("loss", 1.0 / (i + 1))
    """
)


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_eight_processes_fifty_runs_thousand_points(tmp_path):
    workers, runs, points = 8, 50, 1000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(w), str(runs), str(points)],
            env=_env(),
        )
        for w in range(workers)
    ]
    assert [p.wait(timeout=600) for p in procs] == [0] * workers
    store = EmbeddedStore.open(str(tmp_path))
    found = store.list_runs()
    assert len(found) == workers * runs
    assert {r["run_name"] for r in found} == {
        f"w{w}-r{r}" for w in range(workers) for r in range(runs)
    }
    for run in found:
        assert run["status"] == "FINISHED"
        assert run["metrics"]["loss"]["count"] == points
        history = store.get_metric_history(run["run_id"], "loss")
        assert [p[2] for p in history] == list(range(points))


KILLED_WRITER = textwrap.dedent(
    """
    import sys, uuid, os
    from jupyter_mlops.store.embedded import EmbeddedStore
    store = EmbeddedStore.open(sys.argv[1])
    blob = os.path.join(sys.argv[2], f"blob-{os.getpid()}")
    exp = store.get_or_create_experiment("crash")
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    n = 0
    while True:
        run_id = uuid.uuid4().hex
        store.create_run({"run_id": run_id, "run_name": f"r{n}", "experiment_id":
                          exp["experiment_id"], "status": "RUNNING", "params": {},
                          "metrics": {}, "tags": {}})
        store.log_params(run_id, {f"p{i}": "x" * 200 for i in range(20)})
        store.log_metric_points(run_id, [("m", float(i), i, i) for i in range(3000)])
        with open(blob, "wb") as fh:
            fh.write(os.urandom(200_000))
        store.put_artifact(run_id, "blob.bin", blob)
        store.append_records("predictions/crash", [{"run": run_id, "i": i} for i in range(50)])
        if n % 5 == 4:
            store.trim_records("predictions/crash", 120)
        sys.stdout.write(f"ack {run_id}\\n")
        sys.stdout.flush()
        n += 1
    """
)


def test_writer_killed_mid_write_fifty_times(tmp_path, monkeypatch):
    # A small compaction threshold makes some kills land in the middle of a compaction too.
    env = {**_env(), "JUPYTER_MLOPS_COMPACT_BYTES": "200000"}
    root, scratch = tmp_path / "store", tmp_path / "scratch"
    scratch.mkdir()
    rng = random.Random(1234)
    acknowledged: list[str] = []
    interrupted = 0  # kills that left a started but unacknowledged run: they hit a write
    for kill in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(root), str(scratch)],
            env=env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout.readline() == b"ready\n"  # past imports: the kill lands in writes
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        lines = out.decode(errors="replace").split("\n")[:-1]  # the last may be torn
        acknowledged += [line.split()[1] for line in lines if line.startswith("ack ")]
        store = EmbeddedStore.open(str(root))  # opens after every kill
        runs = {r["run_id"]: r for r in store.list_runs()}
        for run_id in acknowledged:
            run = runs[run_id]
            assert len(run["params"]) == 20
            assert run["metrics"]["m"]["count"] == 3000
            assert len(store.get_metric_history(run_id, "m")) == 3000
            assert os.path.getsize(store.artifact_file(run_id, "blob.bin")) == 200_000
        assert all(r["status"] == "RUNNING" for r in runs.values())
        interrupted += len(runs) - len(acknowledged) > interrupted
        # the dead writer's temporary files went at that open; nothing else is left over
        assert os.listdir(root / "tmp") == []
        assert not [n for n in os.listdir(root) if n.startswith(".snapshot-")]
        if kill % 10 == 9:
            assert_only_harmless_leftovers(str(root), len(runs) - len(acknowledged) + 1)
    assert acknowledged and interrupted >= 10
    by_run: dict[str, list[int]] = {}
    for record in store.read_records("predictions/crash")[0]:
        by_run.setdefault(record["run"], []).append(record["i"])
    assert set(by_run) <= set(runs)
    oldest, *rest = by_run.values()  # a trim may have cut into the oldest batch only
    assert oldest == list(range(50 - len(oldest), 50))
    assert all(batch == list(range(50)) for batch in rest)  # batches are whole


def assert_only_harmless_leftovers(root, interrupted):
    """``store check``: no damage; at most one orphan blob per write a kill interrupted."""
    from jupyter_mlops.store.check import check_store

    report = check_store(root)
    bad = [f for f in report.findings if f.severity == "damage"]
    orphans = [f for f in report.findings if f.severity == "warning"]
    assert not bad, bad
    assert all("no run refers to it" in f.message for f in orphans) and len(orphans) <= interrupted
