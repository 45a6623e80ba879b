"""``jupyter mlops ...`` as a user types it: output, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

import jupyter_mlops as mlops


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_runs_table_filter_and_bad_filter(store_dir):
    for acc in (0.7, 0.95):
        with mlops.start_run(experiment="cli", name=f"acc-{acc}"):
            mlops.log_metric("acc", acc)
    done = cli("runs", "--filter", "metrics.acc > 0.9")
    assert "acc-0.95" not in cli("runs", "--limit", "1", "-o", "metrics.acc ASC").stdout
    assert done.returncode == 0 and "acc-0.95" in done.stdout and "acc-0.7" not in done.stdout
    bad = cli("runs", "--filter", "metrics.acc >> 1")
    assert bad.returncode == 2 and "position" in bad.stderr and "Traceback" not in bad.stderr
    assert cli("runs", "-f", "metrics.acc > 5").stdout.strip() == "No runs match."


def test_models_and_deployments(store_dir):
    mlops.register_model(LinearRegression().fit([[0], [1]], [0, 1]), "lin")
    mlops.set_alias("lin", "prod", 1, reason="first")
    listing = cli("models")
    assert "lin" in listing.stdout and "prod→v1" in listing.stdout
    detail = cli("models", "lin")
    assert "v1" in detail.stdout and "alias history" in detail.stdout and "first" in detail.stdout
    missing = cli("models", "nope")
    assert missing.returncode == 2 and "No registered model named 'nope'" in missing.stderr
    assert "No deployments yet" in cli("deployments").stdout
    assert "No deployments yet" in cli("deployments", "list").stdout
    ghost = cli("deployments", "stop", "ghost")
    assert ghost.returncode == 2 and "No deployment named 'ghost'" in ghost.stderr
    assert "Traceback" not in ghost.stderr


def test_drift_between_two_files(store_dir, tmp_path):
    rng = np.random.default_rng(0)
    same = pd.DataFrame({"a": rng.normal(size=400), "b": rng.choice(["x", "y"], 400)})
    same.to_csv(tmp_path / "ref.csv", index=False)
    same.sample(frac=1, random_state=1).to_csv(tmp_path / "same.csv", index=False)
    shifted = same.assign(a=same["a"] + 2)
    shifted.to_csv(tmp_path / "cur.csv", index=False)
    quiet = cli("drift", "ref.csv", "same.csv", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout.startswith("no drift")
    loud = cli("drift", "ref.csv", "cur.csv", "--save", "nightly", cwd=tmp_path)
    assert loud.returncode == 1 and loud.stdout.startswith("DRIFT: 1 of 2")
    assert [r.name for r in mlops.list_drift_reports()] == ["nightly"]
    listed = cli("drift", "--list")  # the saved reports, as GET drift lists them
    assert listed.returncode == 0 and "nightly" in listed.stdout and "1/2" in listed.stdout
    assert "nightly" not in cli("drift", "--list", "--name", "other").stdout
    alone = cli("drift", "ref.csv", cwd=tmp_path)
    assert alone.returncode == 2 and "compares two files" in alone.stderr
    broken = cli("drift", "ref.csv", "missing.csv", cwd=tmp_path)
    assert broken.returncode == 2 and "Cannot read missing.csv" in broken.stderr


def test_both_servers_refuse_an_address_they_cannot_listen_on_in_one_sentence(store_dir):
    import socket

    mlops.register_model(LinearRegression().fit([[0], [1]], [0, 1]), "lin")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        for server in (["server"], ["serve", "models:/lin/1"]):
            cases = [
                (["--port", "70000"], "The port must be a number from 1 to 65535, not 70000."),
                (["--port", busy], f"Port {busy} on 127.0.0.1 is in use by another process"),
                (["--host", "no.such.host", "--port", "5999"], "Cannot listen on 'no.such.host'"),
            ]
            for args, says in cases:
                done = cli(*server, *args)
                assert done.returncode == 2 and says in done.stderr, (server, args, done.stderr)
                assert "Traceback" not in done.stderr
