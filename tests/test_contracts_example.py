"""examples/contracts.ipynb, executed in a real kernel; its outputs and the store are checked."""

from __future__ import annotations

from test_examples import WIDGET, execute, outputs, text_of

import jupyter_mlops as mlops


def test_contracts_example_runs_end_to_end(store_dir, tmp_path):
    nb = execute("contracts.ipynb", tmp_path)
    text = text_of(nb)
    assert "range: [18, 100]" in text and "categories: [free, pro, team]" in text
    assert (
        "Data validation FAILED" in text
        and "age: range [18, 100] — 3 rows (0.4%) fail, e.g. 130 (row 3)" in text
    )
    assert "~ age.range: [18, 79] → [18, 100]" in text
    assert "every training row passes v1's contract: True" in text
    assert "(200, {'predictions': [" in text
    assert "(400, {'error_code':" in text and "Column 'age' breaks its data contract" in text
    assert 'mlops_contract_rejected_requests_total{model="churn",version="2"} 1' in text
    assert "✓ contract_violation_share <= 0" in text
    panels = outputs(nb, WIDGET)
    assert len(panels) == 2  # the two %mlops_validate panels
    assert all("Failed" in p["data"]["text/html"] for p in panels)
    mlops.set_tracking_uri(str(store_dir))
    assert mlops.get_model_version("churn", 2).contract["columns"] == 4
    assert mlops.get_model_version("churn", 2).aliases == ["prod"]
