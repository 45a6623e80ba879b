"""Sweeps through the Python API, on a real store folder with real processes.

Trials as child runs, pruning, failures, resume, parallel, interrupted and killed sweeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import sweep_scripts as scripts

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput, MissingDependency, NotFound
from jupyter_mlops.sweeps import overfit
from jupyter_mlops.sweeps.space import parse_space

SPACE = {"x": "uniform(0, 4)", "kind": ["a", "b"]}


def objective(params):
    """Loss (x-1)^2 (+1 for kind b), logged per step; x > 3.5 fails."""
    if params["x"] > 3.5:
        raise ValueError(f"x={params['x']:.2f} is out of range")
    base = (params["x"] - 1) ** 2 + (1.0 if params["kind"] == "b" else 0.0)
    for step in range(5):
        mlops.log_metric("loss", base + 1.0 / (step + 1), step=step)


def trials_of(name):
    return {t.number: t for t in mlops.load_sweep(name).trials}


# -- search spaces ---------------------------------------------------------------------------------
def test_spaces_read_as_written():
    params = parse_space(
        ["lr=loguniform(1e-4, 1e-1)", "depth=int(1, 10)", "p=uniform(0, 1, step=0.25)",
         "units=logint(8, 512)", "kernel=choice('rbf', 'linear')"]
    )  # fmt: skip
    assert [(p.name, p.kind) for p in params] == [
        ("lr", "loguniform"), ("depth", "int"), ("p", "uniform"), ("units", "logint"),
        ("kernel", "choice"),
    ]  # fmt: skip
    assert params[0].low == 1e-4 and params[0].log
    assert params[2].grid() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert params[4].choices == ("rbf", "linear")
    assert parse_space({"k": [1, 2]})[0].text() == "choice(1, 2)"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("lr", "needs the form PARAM=SPACE"),
        ("lr=normal(0, 1)", "Unknown space 'normal'"),
        ("lr=loguniform(0, 1)", "positive low bound"),
        ("lr=uniform(2, 1)", "low must be below high"),
        ("n=int(1.5, 3)", "whole numbers"),
        ("lr=uniform(0, __import__('os'))", "literal values only"),
        ("1x=uniform(0, 1)", "must be a Python identifier"),
        ("k=choice()", "at least one value"),
    ],
)
def test_bad_spaces_say_what_is_wrong(item, message):
    with pytest.raises(InvalidInput, match=message):
        parse_space([item])


def test_a_continuous_space_refuses_the_grid_sampler(tracking_store):
    with pytest.raises(InvalidInput, match="give it a step"):
        mlops.sweep(objective, {"x": "uniform(0, 1)"}, name="g", trials=2, metric="loss",
                    sampler="grid")  # fmt: skip


def test_bad_options_are_refused_before_anything_runs(tracking_store):
    for kwargs, message in [
        ({"trials": 0}, "--trials must be a positive integer"),
        ({"trials": 3, "jobs": 0}, "--jobs must be a positive integer"),
        ({"trials": 3, "direction": "up"}, "Unknown direction 'up'"),
        ({"trials": 3, "sampler": "bayes"}, "Unknown sampler 'bayes'"),
        ({}, "Give the sweep a budget"),
        ({"trials": 3, "storage": "redis://x"}, "Unsupported sweep storage"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            mlops.sweep(objective, SPACE, name="bad", metric="loss", **kwargs)
    with pytest.raises(InvalidInput, match="letters, digits"):
        mlops.sweep(objective, SPACE, name="a b", metric="loss", trials=1)
    assert mlops.search_runs() is not None and len(mlops.search_runs()) == 0


# -- trials as runs --------------------------------------------------------------------------------
def test_trials_are_child_runs_with_their_state(tracking_store):
    result = mlops.sweep(objective, SPACE, name="s", experiment="exp", trials=24, metric="loss",
                         seed=3)  # fmt: skip

    runs = mlops.search_runs("exp")
    parent = runs[runs["tags.mlops.sweep.role"] == "parent"]
    trials = runs[runs["tags.mlops.sweep.role"] == "trial"]
    assert len(parent) == 1 and len(trials) == 24
    assert set(trials["tags.mlops.parentRunId"]) == {result.parent_run_id}
    states = set(trials["tags.mlops.sweep.state"])
    assert states == {"complete", "pruned", "failed"}, states  # the sweep went on after failures
    assert result.counts["complete"] + result.counts["pruned"] + result.counts["failed"] == 24

    rows = trials_of("s")
    failed = [t for t in rows.values() if t.state == "failed"]
    assert all(t.status == "FAILED" and "out of range" in t.error for t in failed)
    run = mlops.get_run(failed[0].run_id)
    assert "traceback.txt" in run.artifacts and float(run.params["x"]) > 3.5
    pruned = [t for t in rows.values() if t.state == "pruned"]
    assert all(t.status == "FINISHED" for t in pruned)
    steps = mlops.get_metric_history(pruned[0].run_id, "loss")["step"].tolist()
    assert steps and len(steps) < 5, steps  # stopped early, by the log_metric call itself
    done = [t for t in rows.values() if t.state == "complete"]
    assert all(t.duration_s is not None and set(t.params) == {"x", "kind"} for t in done)

    best = mlops.best_trial("s")
    assert best.id == result.best_run_id and best.metrics["loss"] == pytest.approx(
        result.best_value
    )
    assert best.metrics["loss"] == min(t.value for t in done)
    parent_run = mlops.get_run(result.parent_run_id)
    assert parent_run.status == "FINISHED" and parent_run.tags["mlops.sweep.state"] == "finished"
    assert parent_run.metrics["loss"] == pytest.approx(result.best_value)
    assert parent_run.tags["mlops.sweep.best_run_id"] == best.id
    assert json.loads(parent_run.tags["mlops.sweep.space"]) == {
        "kind": "choice('a', 'b')",
        "x": "uniform(0, 4)",
    }


def test_the_metric_can_be_returned_or_missing(tracking_store):
    result = mlops.sweep(lambda p: {"acc": p["x"], "other": 1}, {"x": "uniform(0, 1)"},
                         name="ret", trials=3, metric="acc", direction="maximize")  # fmt: skip
    assert result.counts["complete"] == 3
    best = mlops.best_trial("ret")
    assert best.metrics["acc"] == pytest.approx(result.best_value)
    assert len(mlops.get_metric_history(best.id, "acc")) == 1

    result = mlops.sweep(lambda p: None, {"x": "uniform(0, 1)"}, name="none", trials=2,
                         metric="acc")  # fmt: skip
    assert result.counts == {**result.counts, "failed": 2, "complete": 0}
    errors = {t.error for t in trials_of("none").values()}
    assert errors == {
        "the trial neither set nor logged the metric 'acc': leave it in a variable named acc or "
        "call log_metric('acc', value)"
    }
    with pytest.raises(NotFound, match="no complete trial yet"):
        mlops.best_trial("none")
    with pytest.raises(NotFound, match=r"No sweep named 'nope' \(sweeps: none, ret\)"):
        mlops.best_trial("nope")


def test_the_overfitting_guard_flags_a_diverging_trial(tracking_store):
    def fit(params):
        for step in range(8):
            mlops.log_metric("train_loss", 1.0 / (step + 1), step=step)
            drift = params["x"] * max(step - 3, 0)  # x > 0: validation turns worse after step 3
            mlops.log_metric("val_loss", 1.0 / (step + 1) + 0.1 + drift, step=step)

    mlops.sweep(fit, {"x": "choice(0.0, 0.2)"}, name="fit", trials=4, metric="val_loss",
                pruner="none", sampler="grid")  # fmt: skip
    view = mlops.load_sweep("fit")
    assert view.pair == overfit.MetricPair("train_loss", "val_loss", True)
    by_x = {float(t.params["x"]): t for t in view.trials}
    assert by_x[0.2].overfit == (
        "val_loss rose from 0.35 (step 3) to 1.025 (step 7) while train_loss fell from 0.25 "
        "to 0.125"
    )
    assert by_x[0.0].overfit == ""
    assert by_x[0.0].gap == pytest.approx(0.1) and by_x[0.2].gap == pytest.approx(0.9)


def test_diagnosis_on_maximized_metrics():
    rising = [(s, 0.5 + 0.05 * s) for s in range(6)]
    falling_after_2 = [(0, 0.5), (1, 0.6), (2, 0.7), (3, 0.65), (4, 0.6), (5, 0.55)]
    verdict = overfit.diagnose(
        {"training_accuracy": rising, "validation_accuracy": falling_after_2}
    )
    assert verdict.overfit and verdict.pair.lower_is_better is False
    assert verdict.detail.startswith("validation_accuracy fell from 0.7 (step 2) to 0.55 (step 5)")
    assert verdict.gap == pytest.approx(0.75 - 0.55)
    steady = overfit.diagnose({"train_acc": rising, "val_acc": rising})
    assert not steady.overfit and overfit.diagnose({"loss": rising}) is None


def test_importances_find_the_param_that_matters(tracking_store):
    mlops.sweep(lambda p: (p["x"] - 2) ** 2 + 0.001 * p["noise"], {"x": "uniform(0, 4)",
                "noise": "uniform(0, 1)"}, name="imp", trials=30, metric="m", sampler="random",
                seed=0)  # fmt: skip
    importances = mlops.load_sweep("imp").importances
    assert list(importances) == ["x", "noise"] and importances["x"] > 0.8
    assert sum(importances.values()) == pytest.approx(1.0)


# -- resume ----------------------------------------------------------------------------------------
def test_running_it_again_continues_the_study(tracking_store):
    first = mlops.sweep(objective, SPACE, name="r", trials=6, metric="loss", seed=0)
    again = mlops.sweep(objective, SPACE, name="r", trials=10, metric="loss", seed=0)
    done = mlops.sweep(objective, SPACE, name="r", trials=10, metric="loss", seed=0)

    assert (first.ran, again.ran, done.ran) == (6, 4, 0)
    assert first.parent_run_id == again.parent_run_id == done.parent_run_id
    assert sorted(trials_of("r")) == list(range(10))
    journal = os.path.join(tracking_store, "sweeps")
    assert any(f.endswith(".log") for f in os.listdir(journal))  # the study lives with the store
    with pytest.raises(InvalidInput, match="already exists with metric loss, not acc"):
        mlops.sweep(objective, SPACE, name="r", trials=12, metric="acc")
    with pytest.raises(InvalidInput, match="already exists with direction minimize"):
        mlops.sweep(objective, SPACE, name="r", trials=12, metric="loss", direction="maximize")


# -- processes -------------------------------------------------------------------------------------
def test_parallel_workers_share_one_study(tracking_store, tmp_path):
    parent_pid = os.getpid()
    arrived = tmp_path / "arrived"
    arrived.mkdir()

    def together(params):
        """Each worker's first trial waits until the other has arrived.

        On a busy machine one worker could otherwise take the whole budget before the second
        is forked.
        """
        (arrived / str(os.getpid())).touch()
        scripts.wait_for(lambda: len(os.listdir(arrived)) >= 2, timeout=60)
        objective(params)

    result = mlops.sweep(together, SPACE, name="par", trials=16, metric="loss", jobs=2, seed=5)

    runs = scripts.trial_runs(tracking_store, "par")
    assert result.ran == 16 and len(runs) == 16
    assert sorted(int(r["tags"]["mlops.sweep.trial"]) for r in runs) == list(range(16))
    pids = {r["pid"] for r in runs}
    assert len(pids) == 2 and parent_pid not in pids  # two worker processes did the trials
    assert all(r["parent_run_id"] == result.parent_run_id for r in runs)
    assert {r["tags"]["mlops.sweep.state"] for r in runs} <= {"complete", "pruned", "failed"}


def test_ctrl_c_keeps_finished_trials_and_resumes(tracking_store):
    proc = scripts.start(tracking_store, "int", 30, 2)
    scripts.wait_for(lambda: scripts.finished(tracking_store, "int") >= 3)
    os.killpg(proc.pid, signal.SIGINT)  # as Jupyter's interrupt: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err

    runs = scripts.trial_runs(tracking_store, "int")
    states = [r["tags"]["mlops.sweep.state"] for r in runs]
    kept = states.count("complete")
    assert kept >= 3 and "interrupted" in states and "running" not in states, states
    assert all(r["status"] == "KILLED" for r in runs if r["tags"]["mlops.sweep.state"] ==
               "interrupted")  # fmt: skip
    parent = mlops.get_run(runs[0]["parent_run_id"])
    assert parent.status == "KILLED" and parent.tags["mlops.sweep.state"] == "interrupted"

    proc = scripts.start(tracking_store, "int", 8, 2, TRIAL_SLEEP="0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    final = scripts.trial_runs(tracking_store, "int")
    assert sum(r["tags"]["mlops.sweep.state"] == "complete" for r in final) == max(8, kept)
    assert mlops.get_run(parent.id).status == "FINISHED"


def test_a_killed_process_loses_only_the_trial_in_flight(tracking_store):
    proc = scripts.start(tracking_store, "kill", 6, 1, TRIAL_SLEEP="0.5")
    scripts.wait_for(lambda: scripts.finished(tracking_store, "kill") >= 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    before = scripts.trial_runs(tracking_store, "kill")
    completed = sum(r["tags"]["mlops.sweep.state"] == "complete" for r in before)

    proc = scripts.start(tracking_store, "kill", 6, 1, TRIAL_SLEEP="0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    after = scripts.trial_runs(tracking_store, "kill")
    states = [r["tags"]["mlops.sweep.state"] for r in after]
    assert states.count("complete") == 6 and "running" not in states
    lost = [r for r in after if r["tags"]["mlops.sweep.state"] == "interrupted"]
    assert len(lost) == len(after) - 6 <= 1 and all(r["status"] == "KILLED" for r in lost)
    assert completed >= 2  # what finished before the kill was kept
    assert f"RESULT finished {6 - completed}" in out


def test_without_optuna_the_message_says_how_to_install(tracking_store):
    code = (
        "import sys; sys.modules['optuna'] = None\n"
        "import jupyter_mlops as mlops\n"
        "try:\n"
        "    mlops.sweep(lambda p: 1, {'x': 'uniform(0, 1)'}, name='s', trials=1, metric='m')\n"
        "except mlops.MissingDependency as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == (
        "Sweeps run on Optuna, which is not installed: pip install 'jupyter-mlops[sweep]' "
        "(or: pip install optuna)."
    ), out.stderr
    assert issubclass(MissingDependency, ImportError)


def test_on_the_mlflow_backend_trials_land_on_the_tracking_server(mlflow_backend, unique):
    from mlflow.tracking import MlflowClient

    name = f"remote-{unique}"
    result = mlops.sweep(objective, SPACE, name=name, experiment=name, trials=6, metric="loss",
                         jobs=2, seed=1)  # fmt: skip

    client = MlflowClient(tracking_uri=mlflow_backend.uri.removeprefix("mlflow+"))
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    trials = [r for r in runs if r.data.tags.get("mlops.sweep.role") == "trial"]
    assert len(runs) == 7 and len(trials) == 6
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {result.parent_run_id}
    assert {r.data.tags["mlops.sweep.state"] for r in trials} <= {"complete", "pruned", "failed"}
    best = client.get_run(result.best_run_id)
    assert best.data.metrics["loss"] == pytest.approx(result.best_value)
    assert mlops.best_trial(name).id == result.best_run_id
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"


def test_the_journal_survives_a_torn_line_and_reads_as_optunas(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    from jupyter_mlops.sweeps.journal import StoreJournal

    path = str(tmp_path / "study.log")
    writer, reader = StoreJournal(path), StoreJournal(path)
    writer.append_logs([{"op": 1}, {"op": 2}])
    with open(path, "ab") as fh:
        fh.write(b'{"op": 3, "cut sh')  # a writer killed mid-append
    assert list(reader.read_logs(0)) == [{"op": 1}, {"op": 2}]  # the torn line is held back
    writer.append_logs([{"op": 4}])
    assert list(reader.read_logs(2)) == [{"op": 4}]  # numbered after the torn line, skipped
    assert list(StoreJournal(path).read_logs(0)) == [{"op": 1}, {"op": 2}, {"op": 4}]
    optunas = JournalFileBackend(str(tmp_path / "clean.log"))
    clean = StoreJournal(str(tmp_path / "clean.log"))
    clean.append_logs([{"a": 1}, {"b": [1, 2]}])
    assert list(optunas.read_logs(0)) == [{"a": 1}, {"b": [1, 2]}]


@pytest.mark.parametrize(
    ("sampler", "pruner"), [("cmaes", "hyperband"), ("random", "median"), ("tpe", "none")]
)
def test_every_sampler_and_pruner_runs(tracking_store, sampler, pruner):
    space = {"x": "uniform(0, 3)", "kind": ["a"]}
    result = mlops.sweep(objective, space, name=f"{sampler}-s", trials=6, metric="loss",
                         sampler=sampler, pruner=pruner, seed=0)  # fmt: skip
    assert result.ran == 6 and result.best_value is not None
    parent = mlops.get_run(result.parent_run_id)
    assert (parent.tags["mlops.sweep.sampler"], parent.tags["mlops.sweep.pruner"]) == (
        sampler,
        pruner,
    )


def test_a_timeout_stops_starting_trials(tracking_store):
    import time

    result = mlops.sweep(lambda p: time.sleep(0.2) or p["x"], {"x": "uniform(0, 1)"},
                         name="timed", timeout=0.5, metric="m")  # fmt: skip
    assert result.state == "finished" and 1 <= result.ran < 100
    assert mlops.get_run(result.parent_run_id).tags["mlops.sweep.trials"] == ""
