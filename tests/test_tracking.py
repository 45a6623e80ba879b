"""The tracking API as a user calls it, on the embedded store and on a real MLflow server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.errors import Conflict, IntegrityError, InvalidInput, NotFound

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_run_context_manager_records_everything(backend):
    with mlops.start_run(name="first", experiment="exp", tags={"team": "a"}) as run:
        mlops.log_params({"lr": 0.1, "depth": 3})
        mlops.log_param("lr", 0.1)  # the same value again is fine
        mlops.set_tag("stage", "dev")
        for i in range(5):
            mlops.log_metric("loss", 1 / (i + 1))
        mlops.log_metrics({"acc": 0.9, "f1": 0.8})
    got = mlops.get_run(run.id)
    assert (got.name, got.experiment, got.status) == ("first", "exp", "FINISHED")
    assert got.params == {"lr": "0.1", "depth": "3"}
    assert got.metrics == {"loss": 0.2, "acc": 0.9, "f1": 0.8}
    assert got.tags["team"] == "a" and got.tags["stage"] == "dev"
    assert got.end_time >= got.start_time
    history = mlops.get_metric_history(run.id, "loss")
    assert list(history.columns) == ["step", "value", "timestamp"]
    assert history["step"].tolist() == [0, 1, 2, 3, 4]


def test_param_conflict_says_what_to_do(backend):
    with mlops.start_run():
        mlops.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="write-once"):
            mlops.log_param("lr", 0.2)


def test_exception_marks_failed_and_propagates(backend):
    with pytest.raises(ZeroDivisionError):
        with mlops.start_run(name="boom") as run:
            1 / 0  # noqa: B018
    got = mlops.get_run(run.id)
    assert got.status == "FAILED"
    assert "ZeroDivisionError" in got.tags["mlops.error"]
    assert mlops.active_run() is None


def test_nested_runs_and_end_run(backend):
    with mlops.start_run(name="parent") as parent:
        with mlops.start_run(name="child", nested=True) as child:
            assert mlops.active_run().id == child.id
        assert mlops.active_run().id == parent.id
    assert mlops.get_run(child.id).parent_run_id == parent.id
    frame = mlops.search_runs(filter=f"attributes.parent_run_id = '{parent.id}'")
    assert frame["run_name"].tolist() == ["child"]


def test_starting_a_run_finishes_the_active_one(backend, capsys):
    first = mlops.start_run(name="a")
    second = mlops.start_run(name="b")
    assert "finished run 'a'" in capsys.readouterr().out
    assert mlops.get_run(first.id).status == "FINISHED"
    mlops.end_run("KILLED")
    assert mlops.get_run(second.id).status == "KILLED"


def test_logging_without_a_run_starts_one(backend):
    mlops.log_metric("x", 1)
    run = mlops.active_run()
    assert run is not None
    mlops.end_run()
    assert mlops.get_run(run.id).metrics == {"x": 1.0}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mlops.log_metric("x", "abc"), "must be a number"),
        (lambda: mlops.log_metric("", 1), "non-empty"),
        (lambda: mlops.log_metric("a\tb", 1), "tabs"),
        (lambda: mlops.log_param("p", "x" * 6001), "limit 6000"),
        (lambda: mlops.end_run("DONE"), "FINISHED, FAILED, KILLED"),
        (lambda: mlops.start_run(nested=True), "needs an active run"),
        (lambda: mlops.log_artifact("/no/such/file"), "no such file"),
        (lambda: mlops.load_model("s3://bucket/model"), "Unsupported model URI"),
        (lambda: mlops.load_model("runs:/abc"), "runs:/<run_id>/<path>"),
    ],
)
def test_bad_input_gets_one_clear_error(backend, call, message):
    try:
        with pytest.raises((InvalidInput, NotFound), match=message):
            call()
    finally:
        mlops.end_run()


def test_search_across_experiments_with_order_and_limit(backend):
    tag = uuid.uuid4().hex[:6]
    a, b, c = (f"{x}-{tag}" for x in "abc")
    for exp, acc in [(a, 0.7), (b, 0.9), (b, 0.8), (c, 0.95)]:
        with mlops.start_run(experiment=exp):
            mlops.log_metric("acc", acc)
            mlops.log_param("model", "rf" if acc > 0.75 else "lr")
    frame = mlops.search_runs(
        [a, b],
        filter="params.model = 'rf' or metrics.acc < 0.75",
        order_by="metrics.acc DESC",
        max_results=2,
    )
    assert frame["metrics.acc"].tolist() == [0.9, 0.8]
    assert list(frame.columns[:7]) == [
        "run_id",
        "experiment",
        "run_name",
        "status",
        "start_time",
        "end_time",
        "duration_s",
    ]
    assert len(mlops.search_runs([a, b, c])) == 4
    assert len(mlops.search_runs(filter=f"attributes.experiment LIKE '%-{tag}'")) == 4
    with pytest.raises(NotFound, match="No experiment named 'nope'") as missing:
        mlops.search_runs("nope")
    assert all(name in str(missing.value) for name in (a, b, c))  # it lists those that exist
    with pytest.raises(mlops.FilterError, match="position"):
        mlops.search_runs(filter="metrics.acc >")


def test_models_round_trip_and_refuse_tampering(backend):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    with mlops.start_run() as run:
        uri = mlops.log_model(model, input_example=X.head(3))
    assert uri == f"runs:/{run.id}/model"
    loaded = mlops.load_model(uri)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with open(backend.file_at_rest(run.id, "model/model.pkl"), "wb") as fh:
        fh.write(b"cos\nsystem\n(S'echo pwned'\ntR.")  # a pickle that would run a command
    with pytest.raises(IntegrityError, match="Nothing was loaded"):
        mlops.load_model(uri)


def test_datasets_text_dict_figure(backend):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with mlops.start_run() as run:
        first = mlops.log_dataset(frame, "train")
        again = mlops.log_dataset(frame.copy(), "train")
        mlops.log_text("hello", "notes/readme.txt")
        mlops.log_dict({"k": [1, 2]}, "config.json")
        mlops.log_figure(fig, "plots/curve.png")
    plt.close(fig)
    assert first["digest"] == again["digest"] and first["rows"] == 3
    got = mlops.get_run(run.id)
    assert len(got.datasets) == 1 and got.datasets[0]["columns"] == ["a", "b"]
    contract = got.datasets[0]["contract"]["path"]  # log_dataset records the data contract
    assert contract == f"datasets/train-{first['digest']}/contract.yaml"
    assert set(got.artifacts) == {"notes/readme.txt", "config.json", "plots/curve.png", contract}
    png = mlops.get_store().artifact_file(run.id, "plots/curve.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_metric_points_flushed_at_interpreter_exit(backend):
    code = textwrap.dedent(
        f"""
        import jupyter_mlops as mlops
        mlops.set_tracking_uri({backend.uri!r})
        run = mlops.start_run(name="exit")
        for i in range(1000):
            mlops.log_metric("m", i)
        print(run.id)
        """
    )
    out = _run_python(code)
    assert len(mlops.get_metric_history(out.strip(), "m")) == 1000


def test_run_of_a_killed_process_shows_as_killed(backend):
    code = textwrap.dedent(
        f"""
        import sys, time
        import jupyter_mlops as mlops
        mlops.set_tracking_uri({backend.uri!r})
        run = mlops.start_run(name="doomed")
        print(run.id, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=_env())
    run_id = proc.stdout.readline().decode().strip()
    assert mlops.get_run(run_id).status == "RUNNING"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert mlops.get_run(run_id).status == "KILLED"
    killed = mlops.search_runs(
        os.environ["JUPYTER_MLOPS_EXPERIMENT"] if backend.kind == "mlflow" else None,
        filter="attributes.status = 'KILLED'",
    )
    assert killed["run_id"].tolist() == [run_id]


def _env():
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
