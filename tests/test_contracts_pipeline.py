"""Data contracts in pipelines (the ``contract:`` cell tag) and in the promotion gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import test_pipelines_fixtures as fx
from sklearn.linear_model import LogisticRegression

import jupyter_mlops as mlops
from jupyter_mlops.errors import ContractViolation, InvalidInput
from jupyter_mlops.pipelines import export_notebook, run_pipeline

CELLS = [
    ("limit = 100", ["parameters"]),
    (
        "import pandas as pd\nfeatures = pd.DataFrame({'age': list(range(limit))})",
        ["block:load", "contract:features=contract.yaml"],
    ),
    ("total = int(features['age'].sum())", ["block:train"]),
    ("total", ["pipeline-metrics"]),
]


@pytest.fixture()
def exported(tmp_path):
    contract = mlops.profile(pd.DataFrame({"age": [0, 50]}))
    contract["age"].range(0, 120)
    contract.save(tmp_path / "contract.yaml")
    notebook = fx.make(tmp_path, CELLS)
    export_notebook(notebook, "python")
    return tmp_path / "nb_python"


def test_a_step_output_that_keeps_its_contract_runs_through(exported, tracking_store):
    result = run_pipeline(exported)
    assert result.metrics["total"] == sum(range(100))


def test_a_step_output_that_breaks_its_contract_stops_the_run_with_the_report(
    exported, tracking_store
):
    with pytest.raises(ContractViolation) as info:
        run_pipeline(exported, {"limit": "200"})
    message = str(info.value)
    assert message.startswith("Step 'load': output 'features' breaks its data contract")
    assert "age: range [0, 120] — 79 rows (39.5%) fail, e.g. 121 (row 121)" in message
    assert info.value.report.failures[0].failed == 79
    failed = mlops.search_runs(["nb"], filter="attributes.status = 'FAILED'")
    assert sorted(failed["run_name"]) == ["load", "nb"]  # train never ran


def test_every_target_carries_the_check_and_bad_tags_are_refused(tmp_path):
    notebook = fx.make(tmp_path, CELLS)
    files = export_notebook(notebook, "airflow", tmp_path / "dags")
    (dag,) = [f for f in files if f.endswith(".py")]
    assert '_mlops_check_output(features, "contract.yaml", "features", "load")' in open(dag).read()
    (requirements,) = [f for f in files if f.endswith("requirements.txt")]
    assert "jupyter-mlops" in open(requirements).read()
    bad = fx.make(tmp_path, [("x = 1", ["block:a", "contract:x"])], name="bad")
    with pytest.raises(InvalidInput, match="Cell 1: cannot read the tag 'contract:x'"):
        export_notebook(bad, "python")


def test_the_gate_checks_the_data_against_the_candidates_contract(tracking_store):
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"age": rng.integers(18, 90, 300), "income": rng.normal(5e4, 8e3, 300)})
    y = (X["age"] > 50).astype(int)
    mlops.register_model(LogisticRegression(max_iter=300).fit(X, y), "churn", reference_data=X)
    report = mlops.promote(
        "churn", 1, "prod", checks=["contract_violation_share <= 0"], data=(X, y)
    )
    assert report.passed and report.candidate_metrics["contract_failed_checks"] == 0
    shifted = X.assign(age=X["age"] + 30)
    with pytest.raises(mlops.GateFailed, match="contract_violation_share <= 0.01"):
        mlops.promote(
            "churn", 1, "staging", checks=["contract_violation_share <= 0.01"], data=(shifted, y)
        )
    with pytest.raises(InvalidInput, match="names metric 'contract_violation_share'"):
        mlops.promote("churn", 1, "staging", checks=["contract_violation_share <= 0"])
