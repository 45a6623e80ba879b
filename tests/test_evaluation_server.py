"""The models routes with evaluations: thresholds in a promotion, gate metrics, the latest report.

A real Jupyter server (pytest-jupyter) with the extension, as ``test_server_extension.py``.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from test_server_extension import (  # noqa: F401 - fixtures too
    allow_unauthenticated_access,
    get_json,
    jp_server_config,
    post_json,
    refused,
)

import jupyter_mlops as mlops


def _two_versions():
    """Model "churn": v1 holds "production"; v2 is evaluated on held-out data."""
    X = np.array([[0.0], [1.0], [2.0], [3.0], [0.5], [2.5]])
    y = np.array([0, 0, 1, 1, 0, 1])
    for c in (0.01, 10.0):
        mlops.register_model(LogisticRegression(C=c).fit(X, y), "churn")
    mlops.set_alias("churn", "production", 1)
    mlops.evaluate("models:/churn/1", X[:4], y[:4])
    return mlops.evaluate("models:/churn/2", X, y)


async def test_model_route_gives_gate_metrics_and_the_latest_evaluation(jp_fetch):
    report = _two_versions()
    body = await get_json(jp_fetch, "models", "churn")
    v2 = body["versions"][1]
    assert v2["evaluation"]["metrics"] == report.metrics and v2["evaluation"]["passed"] is True
    assert v2["gate_metrics"]["f1"] == report.metrics["f1"]


async def test_promote_route_takes_thresholds_against_the_holder(jp_fetch):
    report = _two_versions()
    path = ("models", "churn", "aliases")
    needed = report.metrics["f1"] + 0.5
    code, error = await refused(
        jp_fetch, *path, method="POST",
        body={"version": 2, "alias": "production", "thresholds": {"f1": {"threshold": needed}}},
    )  # fmt: skip
    assert code == 409 and "f1 >= " in error["message"]
    body = await post_json(
        jp_fetch, *path,
        body={"version": 2, "alias": "production", "thresholds": ["f1 >= baseline - 1"]},
    )  # fmt: skip
    (result,) = body["report"]["checks"]
    assert result["passed"] and result["value"] == report.metrics["f1"]
    code, error = await refused(
        jp_fetch, *path, method="POST",
        body={"version": 1, "alias": "production", "thresholds": {"f1": {"limit": 1}}},
    )  # fmt: skip
    assert code == 400 and "unknown keys ['limit']" in error["message"]
