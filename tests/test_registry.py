"""The model registry: versions, aliases and their history, integrity, the validation gate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import jupyter_mlops as mlops
from jupyter_mlops.errors import Conflict, IntegrityError, InvalidInput, NotFound

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    weak = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train)
    return X_train, X_test, y_train, y_test, good, weak


def test_versions_count_up_and_keep_lineage(tracking_store, cancer):
    X_train, _, y_train, _, good, weak = cancer
    with mlops.start_run(name="train", experiment="cancer") as run:
        mlops.log_params({"C": 1.0})
        mlops.log_metric("val_accuracy", 0.97)
        mlops.log_dataset(X_train, "train")
        uri = mlops.log_model(good, input_example=X_train.head(), reference_data=X_train)
    v1 = mlops.register_model(uri, "cancer", tags={"team": "risk"}, description="baseline")
    v2 = mlops.register_model(weak, "cancer")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.run_id == run.id and v1.source == uri and v1.uri == "models:/cancer/1"
    assert v1.lineage["metrics"] == {"val_accuracy": 0.97}
    assert v1.lineage["params"] == {"C": "1.0"}
    assert v1.lineage["datasets"][0]["name"] == "train"
    assert "sklearn" in v1.lineage["library_versions"]
    assert v1.signature["inputs"][0] == {"name": "mean radius", "type": "double"}
    assert v1.tags == {"team": "risk"} and v1.description == "baseline"
    assert mlops.load_reference("models:/cancer/1").shape == X_train.shape
    assert [v.version for v in mlops.list_versions("cancer")] == [1, 2]


def test_autologged_object_reuses_its_run(tracking_store, cancer):
    X_train, *_, good, _ = cancer
    with mlops.start_run(name="fit") as run:
        mlops.log_model(good, reference_data=X_train)
    version = mlops.register_model(good, "reuse")
    assert version.run_id == run.id


def test_every_uri_form_loads_the_same_model(tracking_store, cancer):
    _, X_test, _, _, good, weak = cancer
    v1 = mlops.register_model(good, "m")
    mlops.register_model(weak, "m")
    mlops.set_alias("m", "champion", 1)
    expected = good.predict(X_test)
    for uri in ("models:/m/1", "models:/m@champion", v1.source):
        np.testing.assert_array_equal(mlops.load_model(uri).predict(X_test), expected)
    np.testing.assert_array_equal(
        mlops.load_model("models:/m/latest").predict(X_test), weak.predict(X_test)
    )


@pytest.mark.parametrize(
    "alias, message",
    [
        ("latest", "reserved"),
        ("v3", "reserved"),
        ("has space", "Invalid alias"),
        ("a" * 256, "Invalid alias"),
        ("", "Invalid alias"),
    ],
)
def test_alias_rules_follow_mlflow(tracking_store, cancer, alias, message):
    mlops.register_model(cancer[4], "rules")
    with pytest.raises(InvalidInput, match=message):
        mlops.set_alias("rules", alias, 1)


def test_one_version_per_alias_many_aliases_per_version(tracking_store, cancer):
    mlops.register_model(cancer[4], "a")
    mlops.register_model(cancer[5], "a")
    mlops.set_alias("a", "prod", 1)
    mlops.set_alias("a", "blue", 1)
    assert mlops.get_model_version("a", 1).aliases == ["blue", "prod"]
    mlops.set_alias("a", "prod", 2)
    assert mlops.get_model_version("a", 1).aliases == ["blue"]
    assert mlops.get_model_version("a", 2).aliases == ["prod"]
    assert mlops.search_models()[0].aliases == {"blue": 1, "prod": 2}


def test_alias_history_answers_which_version_at_time_t(tracking_store, cancer):
    mlops.register_model(cancer[4], "h")
    mlops.register_model(cancer[5], "h")
    before = int(time.time() * 1000) - 1
    mlops.set_alias("h", "production", 1, reason="first release")
    time.sleep(0.01)
    middle = int(time.time() * 1000)
    time.sleep(0.01)
    mlops.set_alias("h", "production", 2)
    time.sleep(0.01)
    mlops.delete_alias("h", "production", reason="incident")
    moves = mlops.alias_history("h", "production")
    assert [(m["from_version"], m["to_version"]) for m in moves] == [(None, 1), (1, 2), (2, None)]
    assert moves[0]["reason"] == "first release" and moves[0]["user"]
    assert mlops.alias_holder("h", "production", before) is None
    assert mlops.alias_holder("h", "production", middle) == 1
    assert mlops.alias_holder("h", "production", moves[1]["time"]) == 2
    assert mlops.alias_holder("h", "production") is None
    with pytest.raises(NotFound, match="no alias 'production'"):
        mlops.load_model("models:/h@production")


def test_archived_versions_hold_no_alias(tracking_store, cancer):
    mlops.register_model(cancer[4], "arch")
    mlops.register_model(cancer[5], "arch")
    mlops.set_alias("arch", "prod", 2)
    with pytest.raises(Conflict, match="still holds alias"):
        mlops.archive_model_version("arch", 2)
    assert mlops.archive_model_version("arch", 1).status == "ARCHIVED"
    with pytest.raises(Conflict, match="archived"):
        mlops.set_alias("arch", "prod", 1)
    mlops.delete_alias("arch", "prod")
    mlops.archive_model_version("arch", 2)
    with pytest.raises(NotFound, match="not archived"):
        mlops.load_model("models:/arch/latest")


def test_tampered_registered_model_is_refused(tracking_store, cancer):
    version = mlops.register_model(cancer[4], "tamper")
    blob = os.path.join(tracking_store, "artifacts", version.sha256[:2], version.sha256)
    with open(blob, "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(IntegrityError, match="Nothing was loaded"):
        mlops.load_model("models:/tamper/1")
    os.unlink(blob)
    with pytest.raises(NotFound, match="missing"):
        mlops.load_model("models:/tamper/1")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: mlops.get_model_version("nope", 1), NotFound, "No registered model named 'nope'"),
        (lambda: mlops.get_model_version("known", 7), NotFound, r"no version 7 \(versions: 1\)"),
        (lambda: mlops.get_model_version("known", "x"), InvalidInput, "a number"),
        (lambda: mlops.register_model("s3://x", "n"), InvalidInput, "runs:/"),
        (lambda: mlops.register_model(object(), "n"), InvalidInput, "predict"),
        (lambda: mlops.register_model("runs:/nope/model", "n"), NotFound, "No run"),
        (lambda: mlops.register_model(LinearRegression(), "bad/name"), InvalidInput, "model name"),
        (lambda: mlops.load_model("models:/known@nope"), NotFound, "aliases: none"),
        (lambda: mlops.load_model("models:/"), InvalidInput, "Bad model URI"),
        (
            lambda: mlops.promote("known", 1, "prod", checks=["accuracy >> 1"]),
            InvalidInput,
            "METRIC OP VALUE",
        ),
        (lambda: mlops.promote("known", 1, "prod", checks=["bogus>=1"]), InvalidInput, "available"),
        (lambda: mlops.promote("known", 1, "prod", force=True), InvalidInput, "reason"),
        (lambda: mlops.promote("known", 1, "prod", data=[1, 2, 3]), InvalidInput, r"pair \(X, y\)"),
        (lambda: mlops.search_models("name >"), mlops.FilterError, "position"),
    ],
)
def test_bad_input_gets_one_clear_message(tracking_store, cancer, call, error, message):
    mlops.register_model(cancer[4], "known")
    with pytest.raises(error, match=message):
        call()


def test_gate_promotes_the_better_and_refuses_the_worse(tracking_store, cancer):
    _, X_test, _, y_test, good, weak = cancer
    mlops.register_model(good, "gate")
    mlops.register_model(weak, "gate")
    report = mlops.promote("gate", 1, "production", checks=["accuracy>=0.9"], data=(X_test, y_test))
    assert report.passed and report.candidate_metrics["accuracy"] > 0.9
    assert {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"} <= set(
        report.candidate_metrics
    )
    with pytest.raises(
        mlops.GateFailed, match=r"accuracy >= current - 0.01 \(0\.\d+ vs current v1"
    ) as failed:
        mlops.promote(
            "gate", 2, "production", checks=["accuracy >= current - 0.01"], data=(X_test, y_test)
        )
    assert failed.value.report.current_version == 1
    assert mlops.alias_holder("gate", "production") == 1
    stored = mlops.get_model_version("gate", 2).validations
    assert len(stored) == 1 and stored[0]["passed"] is False
    forced = mlops.promote(
        "gate",
        2,
        "production",
        checks=["accuracy>=0.99"],
        data=(X_test, y_test),
        force=True,
        reason="hotfix for incident 12",
    )
    assert forced.forced and not forced.passed
    last = mlops.alias_history("gate", "production")[-1]
    assert (last["to_version"], last["forced"], last["reason"]) == (
        2,
        True,
        "hotfix for incident 12",
    )


def test_gate_without_data_uses_recorded_metrics_and_regression(tracking_store):
    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(X, y)
    with mlops.start_run():
        mlops.log_metric("val_rmse", 55.0)
        uri = mlops.log_model(model)
    mlops.register_model(uri, "reg")
    assert mlops.promote("reg", 1, "staging", checks=["val_rmse <= 60"]).passed
    report = mlops.promote(
        "reg", 1, "prod", checks=["rmse <= current + 1", "r2 >= 0.4"], data=(X, y)
    )
    regression = {"mae", "mse", "rmse", "r2", "mape", "max_error"}  # the evaluation module's
    assert report.passed and regression == set(report.candidate_metrics)


REGISTER = textwrap.dedent(
    """
    import sys
    import jupyter_mlops as mlops
    from sklearn.linear_model import LinearRegression
    mlops.set_tracking_uri(sys.argv[1])
    model = LinearRegression().fit([[0], [1]], [0, 1])
    for _ in range(5):
        print(mlops.register_model(model, "shared").version)
    """
)


def test_concurrent_registration_gets_distinct_versions(tracking_store):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER, tracking_store], stdout=subprocess.PIPE, env=env
        )
        for _ in range(3)
    ]
    versions = [int(v) for p in procs for v in p.communicate(timeout=120)[0].split()]
    assert sorted(versions) == list(range(1, 16))
    assert [v.version for v in mlops.list_versions("shared")] == list(range(1, 16))


class Doubler:
    """Not scikit-learn: any object with predict can be registered."""

    def predict(self, X):
        return np.asarray(X, dtype=float).sum(axis=1) * 2


def test_any_object_with_predict_is_a_python_flavor_model(tracking_store):
    version = mlops.register_model(Doubler(), "doubler", input_example=[[1, 2], [3, 4]])
    assert version.flavor == "python"
    assert mlops.load_model("models:/doubler/1").predict([[1, 2]]).tolist() == [6.0]
