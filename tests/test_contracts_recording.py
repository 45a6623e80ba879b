"""Contracts recorded with datasets, logged models, autologged fits and registered versions."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from magic_fixtures import runs
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.errors import IntegrityError, NotFound
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking.models import REFERENCE_ROWS, read_descriptor

ROWS = REFERENCE_ROWS * 3  # more than the drift reference sample keeps


@pytest.fixture(scope="module")
def training():
    rng = np.random.default_rng(11)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 90, ROWS),
            "income": rng.lognormal(10, 1, ROWS),
            "city": rng.choice(["Paris", "Lyon", "Nice"], ROWS),
        }
    )
    X.loc[ROWS - 1, "income"] = X["income"].max() * 10  # an extreme row few samples would keep
    y = (X["age"] > 50).astype(int)
    return X, y


def test_autolog_records_the_contract_of_the_whole_training_data(shell, training):
    X, y = training
    shell.user_ns.update(X=X[["age", "income"]], y=y)
    cell = """\
        from sklearn.linear_model import LogisticRegression
        LogisticRegression(max_iter=300).fit(X, y)
        """
    assert shell.run_cell(f"%%mlops_track\n{textwrap.dedent(cell)}").success
    (run,) = runs()
    descriptor = read_descriptor(run.id, "model")
    assert descriptor["reference"]["rows"] == REFERENCE_ROWS
    assert descriptor["contract"]["rows"] == ROWS and descriptor["contract"]["columns"] == 2
    contract = mlops.load_contract(f"runs:/{run.id}/model")
    assert contract["income"].max_value == X["income"].max()  # not the sample's maximum
    report = mlops.validate(X[["age", "income"]], f"runs:/{run.id}/model")
    assert report.passed and report.rows == ROWS  # no training row fails its model's contract
    (dataset,) = run.datasets
    assert dataset["contract"]["path"].endswith("/contract.yaml")
    from_dataset = mlops.load_contract(f"runs:/{run.id}/{dataset['contract']['path']}")
    assert from_dataset == contract and from_dataset.source == {"dataset": "X"}
    text = open(get_store().artifact_file(run.id, dataset["contract"]["path"])).read()
    assert "kind: numeric" in text and "range: [" in text  # readable YAML


def test_log_dataset_records_a_contract(tracking_store, training):
    X, _ = training
    with mlops.start_run() as run:
        record = mlops.log_dataset(X, "customers")
    assert record["contract"]["rows"] == ROWS and record["contract"]["columns"] == 3
    contract = mlops.load_contract(f"runs:/{run.id}/{record['contract']['path']}")
    assert contract["city"].value_set == ["Lyon", "Nice", "Paris"]


def test_registered_versions_carry_their_contract_and_diff(tracking_store, training):
    X, y = training
    model = LogisticRegression(max_iter=300).fit(X[["age", "income"]], y)
    first = mlops.register_model(model, "churn", reference_data=X[["age", "income"]])
    assert first.contract["rows"] == ROWS
    edited = mlops.load_contract("models:/churn/1")
    edited["age"].range(0, 120)
    second = mlops.register_model(first.source, "churn", contract=edited)
    assert second.contract["path"] != first.contract["path"]
    assert mlops.load_contract("models:/churn/2")["age"].max_value == 120
    assert mlops.load_contract("models:/churn/1")["age"].max_value == 89
    diff = mlops.load_contract("models:/churn/1").diff(mlops.load_contract("models:/churn/2"))
    assert [(c.column, c.rule, c.old, c.new) for c in diff.changed] == [
        ("age", "range", [18, 89], [0, 120])
    ]
    mlops.set_alias("churn", "prod", 2)
    live = X[["age", "income"]].head(10).copy()
    live.loc[0, "age"] = 100
    assert mlops.validate(live, "models:/churn@prod").passed
    assert not mlops.validate(live, "models:/churn/1").passed


def test_a_model_without_training_data_has_no_contract(tracking_store, training):
    X, y = training
    model = LogisticRegression(max_iter=300).fit(X[["age"]], y)
    version = mlops.register_model(model, "bare")
    assert version.contract is None
    with pytest.raises(NotFound, match="has no data contract: it was logged without training"):
        mlops.validate(X, "models:/bare/1")


def test_unprofilable_training_data_costs_the_contract_not_the_model(tracking_store):
    from jupyter_mlops.contracts.record import record_model_contract

    with mlops.start_run() as run:
        with pytest.warns(UserWarning, match="No data contract for 'model'.*shape"):
            entry = record_model_contract(get_store(), run.id, "model", None, np.zeros((2, 2, 2)))
    assert entry is None
    assert mlops.profile([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]).columns == ["a", "b"]


def test_a_tampered_contract_is_refused(tracking_store, training):
    X, y = training
    model = LogisticRegression(max_iter=300).fit(X[["age"]], y)
    version = mlops.register_model(model, "tamper", reference_data=X[["age"]])
    from jupyter_mlops.contracts.record import read_artifact_contract

    entry = dict(version.contract, sha256="0" * 64)
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        read_artifact_contract(version.run_id, entry)
