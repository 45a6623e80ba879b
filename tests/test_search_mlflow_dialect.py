"""Where the filter and order_by dialect agrees with MLflow's ``search_runs``, one gap a test.

Each expectation below was read off MLflow 3.17.2 itself (a SQLite store, ``MlflowClient``), as
docs/search.md records.
"""

from __future__ import annotations

import math

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.errors import FilterError
from jupyter_mlops.tracking.search import compile_filter, server_filter, sort_runs

RUN = {
    "run_id": "3f2a9c",
    "run_name": "rf-1",
    "status": "FINISHED",
    "start_time": 1_700_000_000_000,
    "user": "ann",
    "params": {"lr": "0.1"},
    "metrics": {"acc": {"last": 0.93}},
    "tags": {"team": "vision"},
}


def keeps(text: str, run: dict = RUN) -> bool:
    return compile_filter(text)(run)


@pytest.fixture
def store(tracking_store):
    """A fresh embedded store, set back to the default afterwards (fixtures_store)."""
    return tracking_store


def test_the_latest_metric_is_at_the_highest_step_then_the_latest_timestamp(store):
    """MLflow: step 5 beats a later step 4; at step 5 the point with the latest timestamp wins."""
    with mlops.start_run(experiment="dialect", name="tie") as run:
        mlops.log_metric("x", 1.0, step=5, timestamp=1000)
        mlops.log_metric("x", 3.0, step=5, timestamp=2000)
        mlops.log_metric("x", 2.0, step=5, timestamp=1500)
        mlops.log_metric("x", 9.0, step=4, timestamp=3000)
    found = mlops.search_runs(["dialect"], filter="metrics.x = 3")
    assert list(found["run_id"]) == [run.id]
    assert mlops.search_runs(["dialect"], filter="metrics.x = 2").empty
    assert mlops.get_run(run.id).metrics["x"] == 3.0


def test_at_the_same_step_and_time_the_greater_value_is_the_latest(store):
    with mlops.start_run(experiment="dialect", name="same-time") as run:
        mlops.log_metric("x", 2.0, step=1, timestamp=1000)
        mlops.log_metric("x", 1.0, step=1, timestamp=1000)
    assert mlops.get_run(run.id).metrics["x"] == 2.0


@pytest.mark.parametrize(
    ("order", "names"),
    [("metrics.acc ASC", ["low", "high", "nan", "none"]),
     ("metrics.acc DESC", ["high", "low", "nan", "none"])],
)  # fmt: skip
def test_nan_sorts_between_values_and_missing_in_both_directions(order, names):
    runs = [
        {"run_id": "n", "run_name": "nan", "metrics": {"acc": {"last": math.nan}}},
        {"run_id": "m", "run_name": "none", "metrics": {}},
        {"run_id": "h", "run_name": "high", "metrics": {"acc": {"last": 0.9}}},
        {"run_id": "l", "run_name": "low", "metrics": {"acc": {"last": 0.1}}},
    ]
    assert [r["run_name"] for r in sort_runs(runs, order)] == names


def test_artifact_uri_is_an_attribute():
    assert keeps("attributes.artifact_uri = 'runs:/3f2a9c'")
    assert keeps("artifact_uri LIKE 'runs:/%'")
    assert keeps("attributes.artifact_uri LIKE 's3://%'", {**RUN, "artifact_uri": "s3://b/3f2a9c"})


@pytest.mark.parametrize("alias", ["created", "Created", "attributes.created", "attribute.Created"])
def test_created_is_start_time(alias):
    assert keeps(f"{alias} = 1700000000000")
    assert not keeps(f"{alias} > 1700000000000")


@pytest.mark.parametrize(
    "field", ["`Run name`", "`run name`", "`Run Name`", "attributes.`Run name`", "run_name"]
)
def test_run_name_aliases(field):
    assert keeps(f"{field} = 'rf-1'")
    assert not keeps(f"{field} = 'rf-2'")


@pytest.mark.parametrize(
    "text",
    ["run_name = 'rf-1'", "status = 'FINISHED'", "run_id = '3f2a9c'", "user_id = 'ann'",
     "start_time > 0", "status IN ('FINISHED', 'FAILED')"],
)  # fmt: skip
def test_unprefixed_identifiers_are_attributes(text):
    assert keeps(text)


def test_an_unprefixed_name_that_is_no_attribute_is_still_refused():
    with pytest.raises(FilterError, match="did you mean metrics.acc or params.acc"):
        compile_filter("acc > 0.5")


@pytest.mark.parametrize(
    "text",
    ["`metric`.acc > 0.9", "`metrics`.acc > 0.9", "`params`.lr = '0.1'", "`param`.lr = '0.1'",
     "`tags`.team = 'vision'", "`tag`.`team` = 'vision'", "`attribute`.status = 'FINISHED'",
     "parameter.lr = '0.1'", "parameters.lr = '0.1'"],
)  # fmt: skip
def test_backticked_and_long_prefixes(text):
    assert keeps(text)


def test_mlflow_run_name_tag_reads_the_run_name():
    assert keeps("tags.`mlflow.runName` = 'rf-1'")
    assert keeps("tags.`mlflow.runName` LIKE 'rf%'")
    assert keeps("tags.`mlflow.user` = 'ann'")
    assert not keeps("tags.`mlflow.runName` = 'other'")
    # a backend that stores the tag (MLflow) answers from the tag itself
    assert keeps("tags.`mlflow.runName` = 'x'", {**RUN, "tags": {"mlflow.runName": "x"}})


def test_mlflow_parent_run_id_tag_reads_the_parent():
    """How MLflow users find a run's children: ``tags.mlflow.parentRunId = '<id>'``."""
    child = {**RUN, "parent_run_id": "9d1e"}
    assert keeps("tags.mlflow.parentRunId = '9d1e'", child)
    assert not keeps("tags.mlflow.parentRunId = '9d1e'")  # a top-level run


def test_mlflow_run_name_tag_finds_embedded_runs(store):
    with mlops.start_run(experiment="dialect", name="named") as run:
        pass
    found = mlops.search_runs(["dialect"], filter="tags.`mlflow.runName` = 'named'")
    assert list(found["run_id"]) == [run.id]


def test_order_by_the_aliases():
    runs = [{**RUN, "run_id": "a", "run_name": "b", "start_time": 2},
            {**RUN, "run_id": "b", "run_name": "a", "start_time": 1}]  # fmt: skip
    assert [r["run_id"] for r in sort_runs(runs, "created ASC")] == ["b", "a"]
    assert [r["run_id"] for r in sort_runs(runs, "`Run name` ASC")] == ["b", "a"]
    assert [r["run_id"] for r in sort_runs(runs, "run_name DESC")] == ["a", "b"]


def test_the_mlflow_push_down_reads_backticked_prefixes():
    assert server_filter("`metric`.acc > 0.5") == "metrics.`acc` > 0.5"
    assert server_filter("parameter.model = 'rf'") == "params.`model` = 'rf'"
