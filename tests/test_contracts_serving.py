"""Contracts in real model servers on loopback: counted, logged, monitored, or rejected."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.serving.deploy import deploy, list_deployments, undeploy
from jupyter_mlops.store import set_tracking_uri

COLUMNS = ["age", "income", "city"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A churn model with a contract, served twice: counting and rejecting violations."""
    folder = str(tmp_path_factory.mktemp("contracts-serving") / "store")
    set_tracking_uri(folder)
    os.environ["JUPYTER_MLOPS_STORE"] = folder
    rng = np.random.default_rng(5)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 400),
            "income": rng.normal(50_000, 8_000, 400),
            "city": rng.choice(["Paris", "Lyon", "Nice"], 400),
        }
    )
    y = (X["age"] > 50).astype(int)
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(X, y)
    mlops.register_model(model, "churn", input_example=X.head(), reference_data=X)
    mlops.set_alias("churn", "prod", 1)
    counting = deploy("models:/churn@prod", name="churn-count")
    rejecting = deploy("models:/churn/1", name="churn-reject", on_violation="reject")
    yield {"X": X, "count": counting, "reject": rejecting}
    for d in list_deployments():
        undeploy(d.name)
    set_tracking_uri(None)
    os.environ.pop("JUPYTER_MLOPS_STORE", None)


def post(url, body):
    request = urllib.request.Request(
        url + "/invocations", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return response.read().decode()


def split(*rows):
    return {"dataframe_split": {"columns": COLUMNS, "data": [list(r) for r in rows]}}


def test_counting_server_answers_and_counts_violations_per_column(served):
    url = served["count"].url
    assert post(url, split([30, 50_000.0, "Paris"]))[0] == 200
    status, body = post(url, split([150, 50_000.0, "Paris"], [40, 50_000.0, "Rome"]))
    assert status == 200 and len(body["predictions"]) == 2
    status, _ = post(url, {"dataframe_records": [{"age": 200, "income": 1e9, "city": "Lyon"}]})
    assert status == 200
    metrics = get(url, "/metrics")
    labels = 'model="churn",version="1"'
    assert f'mlops_contract_violations_total{{{labels},column="age",rule="range"}} 2' in metrics
    assert (
        f'mlops_contract_violations_total{{{labels},column="city",rule="categories"}} 1' in metrics
    )
    assert f'mlops_contract_violations_total{{{labels},column="income",rule="range"}} 1' in metrics
    assert f"mlops_contract_rows_checked_total{{{labels}}} 4" in metrics
    assert f"mlops_contract_rows_violating_total{{{labels}}} 3" in metrics
    assert f"mlops_contract_rejected_requests_total{{{labels}}} 0" in metrics
    meta = json.loads(get(url, "/metadata"))
    assert meta["contract"] == {"columns": COLUMNS, "on_violation": "count"}


def test_violations_are_kept_with_the_prediction_log_and_monitored(served):
    url, name = served["count"].url, served["count"].name
    post(url, split([31, 40_000.0, "Nice"], [-5, 40_000.0, "Nice"]))
    store = mlops.get_store()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        records, _ = store.read_records(f"predictions/{name}")
        if any(r["inputs"].get("age") == -5 for r in records):
            break
        time.sleep(0.2)
    by_age = {r["inputs"]["age"]: r for r in records}
    assert by_age[-5]["violations"] == ["age:range"] and by_age[31]["violations"] == []
    result = mlops.monitor(name, window="1d")
    window = result.windows.iloc[-1]
    assert window["violation_share"] == pytest.approx(
        sum(bool(r["violations"]) for r in records) / len(records)
    )
    assert result.results[-1].contract["by_rule"]["age:range"] >= 2
    from jupyter_mlops.jupyter.panels_drift import windows_table

    table = windows_table(result)
    assert "contract violations" in table and f"{window['violation_share']:.1%}" in table


def test_rejecting_server_answers_400_naming_column_and_rule(served):
    url = served["reject"].url
    status, body = post(url, split([30, 50_000.0, "Rome"]))
    assert status == 400
    assert body["message"].startswith(
        "Column 'city' breaks its data contract: 'Rome' (row 0) fails categories"
    )
    assert "allowed categories 'Lyon', 'Nice', 'Paris'" in body["message"]
    status, body = post(url, {"instances": [{"age": 30, "income": None, "city": "Lyon"}]})
    assert status == 400 and "Column 'income'" in body["message"] and "not_null" in body["message"]
    assert post(url, split([30, 50_000.0, "Lyon"]))[0] == 200
    metrics = get(url, "/metrics")
    assert 'mlops_contract_rejected_requests_total{model="churn",version="1"} 2' in metrics
    assert json.loads(get(url, "/metadata"))["contract"]["on_violation"] == "reject"


def test_a_bad_on_violation_is_refused_before_anything_starts(served):
    with pytest.raises(InvalidInput, match="on_violation must be 'count'"):
        deploy("models:/churn/1", name="churn-bad", on_violation="drop")
    assert "churn-bad" not in {d.name for d in list_deployments()}


def test_an_exported_model_folder_enforces_its_contract(served, tmp_path):
    from jupyter_mlops.errors import ContractViolation
    from jupyter_mlops.serving.k8s import export_k8s
    from jupyter_mlops.serving.service import ModelService

    files = export_k8s("models:/churn/1", str(tmp_path))
    assert str(tmp_path / "model" / "contract.yaml") in files
    service = ModelService(str(tmp_path / "model"), on_violation="reject")
    try:
        good = json.dumps(split([30, 50_000.0, "Lyon"])).encode()
        assert len(service.invoke(good)["predictions"]) == 1
        with pytest.raises(ContractViolation, match="Column 'age' breaks its data contract"):
            service.invoke(json.dumps(split([300, 50_000.0, "Lyon"])).encode())
        assert "mlops_contract_rejected_requests_total" in service.metrics_text()
    finally:
        service.close()


def test_cli_serve_takes_on_violation_and_refuses_other_values(served):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", "serve", "models:/churn/1", "--on-violation",
         "drop"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "argument --on-violation: invalid choice: 'drop'" in done.stderr
    assert "Traceback" not in done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", "serve", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "--on-violation {count,reject}" in helped.stdout
