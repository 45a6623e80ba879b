"""Sweeps across machines: workers with their own stores share one study in a real PostgreSQL.

The server is Debian's PostgreSQL, started here as a throw-away cluster on loopback (as the
``postgres`` user: it refuses to run as root). A missing PostgreSQL fails the tests: ``.ci/run``
installs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import optuna
import pytest
import sweep_scripts as scripts

import jupyter_mlops as mlops
from jupyter_mlops.sweeps.study import run_id_of


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def postgres_url():
    """``postgresql://postgres@127.0.0.1:PORT/postgres`` of a cluster started for this module."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does it)")
    bin_dir = os.path.dirname(found[-1])
    data = tempfile.mkdtemp(prefix="mlops-pg-", dir="/tmp")
    shutil.chown(data, "postgres", "postgres")
    init = _as_postgres(f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "-A", "trust")
    assert init.returncode == 0, init.stderr
    port = _free_port()
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    start = _as_postgres(
        f"{bin_dir}/pg_ctl", "-D", data, "-o", options, "-l", f"{data}/log", "-w", "start"
    )
    assert start.returncode == 0, start.stderr + start.stdout
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_two_machines_share_one_study(postgres_url, tmp_path):
    machines = [str(tmp_path / f"machine-{i}") for i in (1, 2)]  # each has its own store
    procs = [scripts.start(store, "pg", 12, 1, SWEEP_STORAGE=postgres_url, TRIAL_SLEEP="0.05")
             for store in machines]  # fmt: skip
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    study = optuna.load_study(study_name="pg", storage=postgres_url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 12  # the budget is the study's, not each machine's
    per_machine = [scripts.trial_runs(store, "pg") for store in machines]
    assert all(runs for runs in per_machine), "both machines ran trials"
    numbers = sorted(int(r["tags"]["mlops.sweep.trial"]) for runs in per_machine for r in runs)
    assert numbers == sorted({t.number for t in done})  # each trial ran once, on one machine
    by_run = {run_id_of(t): t for t in done}
    for runs in per_machine:
        for run in runs:
            assert float(run["params"]["x"]) == by_run[run["run_id"]].params["x"]


def test_parallel_workers_on_postgres_and_resume(postgres_url, tracking_store):
    def objective(params):
        mlops.log_metric("loss", (params["x"] - 1) ** 2)

    first = mlops.sweep(objective, {"x": "uniform(0, 2)"}, name="pg-jobs", trials=6,
                        metric="loss", jobs=2, storage=postgres_url, seed=2)  # fmt: skip
    again = mlops.sweep(objective, {"x": "uniform(0, 2)"}, name="pg-jobs", trials=9,
                        metric="loss", storage=postgres_url, seed=2)  # fmt: skip
    assert (first.ran, again.ran) == (6, 3)
    parent = mlops.get_run(first.parent_run_id)
    assert parent.tags["mlops.sweep.storage"] == postgres_url
    assert len(optuna.load_study(study_name="pg-jobs", storage=postgres_url).trials) == 9
    assert mlops.best_trial("pg-jobs").metrics["loss"] == pytest.approx(again.best_value)


def test_a_password_never_reaches_the_runs(postgres_url, tracking_store):
    url = postgres_url.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    mlops.sweep(lambda p: p["x"], {"x": "uniform(0, 1)"}, name="pg-secret", trials=1,
                metric="m", storage=url)  # fmt: skip
    run = mlops.get_run(mlops.load_sweep("pg-secret").parent_run_id)
    assert "s3cret" not in str(run.tags) and ":***@" in run.tags["mlops.sweep.storage"]
