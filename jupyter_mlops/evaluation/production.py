"""Is the test set like production? The test set against a deployment's recent prediction log.

:func:`compare_to_production` reads the inputs the deployment logged in the last ``window``
(:func:`~jupyter_mlops.monitoring.labels.read_log`) and tests each column of the test set
against them with :func:`~jupyter_mlops.monitoring.drift.detect_drift`, the test set as the
reference. The verdict is detect_drift's dataset-drift rule: the test set does **not** look like
production when the share of drifted columns among the tested ones reaches ``drift_share``
(0.5 by default); the columns that drifted are the columns that differ either way.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.monitoring.report import DriftReport


@dataclass(frozen=True)
class ProductionComparison:
    """The verdict and the drift report behind it.

    Attributes
    ----------
    deployment, window : str
    representative : bool
        The test set looks like production (no dataset drift).
    verdict : str
        The verdict in words, with the share of columns that differ.
    differing : list of str
        Columns whose distribution differs between the test set and production.
    drift : DriftReport
        Per column: method, statistic, p-value, threshold (test set = reference).
    """

    deployment: str
    window: str
    representative: bool
    verdict: str
    differing: list[str]
    drift: DriftReport

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the drift report without its chart data)."""
        drift = {k: v for k, v in self.drift.to_dict().items() if k != "distributions"}
        return {
            "deployment": self.deployment,
            "window": self.window,
            "representative": self.representative,
            "verdict": self.verdict,
            "differing": list(self.differing),
            "drift": drift,
        }

    def __repr__(self) -> str:
        return f"<ProductionComparison {self.verdict}>"

    def _repr_html_(self) -> str:
        return f"<p><b>Test set against production</b> {html.escape(self.verdict)}</p>" + (
            self.drift._repr_html_()
        )


def compare_to_production(
    X: Any, deployment: str, window: str = "7d", drift_share: float = 0.5
) -> ProductionComparison:
    """Drift of the test set ``X`` against what ``deployment`` was asked to predict in ``window``.

    Parameters
    ----------
    X : pandas.DataFrame
        The test set's features.
    deployment : str
        A deployment's name (``deploy(..., name=...)``); its prediction log is read.
    window : str
        How far back: ``"7d"``, ``"24h"``, ``"30m"`` (units s, m, h, d, w).
    drift_share : float
        detect_drift's dataset-drift share.

    Returns
    -------
    ProductionComparison

    Raises
    ------
    InvalidInput
        ``X`` not a table, an unknown deployment, or no traffic in the window.
    """
    from jupyter_mlops.monitoring.drift import detect_drift
    from jupyter_mlops.monitoring.labels import (
        align_inputs,
        deployment_doc,
        parse_duration,
        read_log,
    )

    deployment_doc(deployment)
    span = parse_duration(window)
    log = read_log(deployment, int(time.time() * 1000) - span)
    if not len(log):
        raise InvalidInput(
            f"Deployment {deployment!r} logged no predictions in the last {window}: nothing to "
            "compare the test set with (try a longer window=)."
        )
    test = _frame(X)
    live = align_inputs(log.inputs, test)
    test = _matching_names(test, live)
    columns = [c for c in test.columns if c in live.columns] or list(test.columns)
    report = detect_drift(test, live, columns=columns, drift_share=drift_share, progress=False)
    return _comparison(deployment, window, report)


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    try:
        return pd.DataFrame(X)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"The test set must be a table of features (a DataFrame): {e}") from e


def _matching_names(test: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Logged inputs have string column names (JSON keys): match ``0, 1`` to ``"0", "1"``."""
    if set(test.columns) & set(live.columns):
        return test
    return test.rename(columns=str)


def _comparison(deployment: str, window: str, report: DriftReport) -> ProductionComparison:
    differing = [str(c) for c in report.drifted_columns]
    share = f"{report.n_drifted} of {report.n_tested} columns differ"
    rule = f"dataset drift at {report.drift_share_threshold:.0%}"
    if report.dataset_drift:
        verdict = f"the test set does not look like production ({share}, {rule}: "
        verdict += ", ".join(differing) + ")"
    else:
        verdict = f"the test set looks like production ({share}; {rule})"
    return ProductionComparison(
        deployment, window, not report.dataset_drift, verdict, differing, report
    )
