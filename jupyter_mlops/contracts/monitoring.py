"""Contract violations over a window of a deployment's prediction log (beside its drift)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def violation_summary(marks: Iterable[Any]) -> dict[str, Any]:
    """Summarise the prediction log's per-row ``violations`` lists of one window.

    Parameters
    ----------
    marks : iterable
        Each logged row's ``violations`` (``["age:range", ...]``, ``[]`` for a clean row), or
        ``None`` for rows served without a contract.

    Returns
    -------
    dict
        ``{}`` when no row was checked, else ``checked`` (rows), ``violating`` (rows breaking
        a rule), ``share`` (violating / checked) and ``by_rule`` (``"column:rule"`` → rows).
    """
    checked = violating = 0
    by_rule: dict[str, int] = {}
    for row in marks:
        if not isinstance(row, list):
            continue
        checked += 1
        if row:
            violating += 1
            for mark in set(row):
                by_rule[str(mark)] = by_rule.get(str(mark), 0) + 1
    if not checked:
        return {}
    return {
        "checked": checked,
        "violating": violating,
        "share": violating / checked,
        "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
