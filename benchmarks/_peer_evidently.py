"""Evidently's side of bench_drift.py, run with benchmarks/.venv-evidently/bin/python.

    .venv-evidently/bin/python _peer_evidently.py DATA_FOLDER

Loads the frames written by ``bench_drift.make_data``, runs ``Report([DataDriftPreset()])`` with
an explicit ``DataDefinition`` (so Evidently's type inference cannot differ from ours) and prints
one JSON line: the measurement of ``bench_drift.measure`` with each column's method, drift
score and verdict (a p-value below the threshold, or a distance at or above it).
"""

from __future__ import annotations

import json
import sys

from bench_drift import load_frames, measure, rss_mb

# Evidently's display names of the tests whose score is a p-value, and whether "<=" is drift.
P_VALUE_METHODS = {"K-S p_value": True, "chi-square p_value": False, "Z-test p_value": False}


def run_evidently(ref, cur, numeric, categorical):
    """Per-column verdicts of Evidently's DataDriftPreset."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    out = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if "column" not in config:
            continue
        out[config["column"]] = verdict(config["method"], metric["value"], config["threshold"])
    return out


def verdict(method: str, score: float, threshold: float) -> dict:
    """Evidently's drift decision for one column."""
    if method in P_VALUE_METHODS:
        drifted = score <= threshold if P_VALUE_METHODS[method] else score < threshold
    else:
        drifted = score >= threshold
    return {"method": method, "score": float(score), "drifted": bool(drifted)}


def main() -> None:
    """Measure Evidently on the data in ``sys.argv[1]``."""
    import evidently.presets  # noqa: F401 - importing takes seconds: not the call's time

    rss_libs = rss_mb()
    ref, cur, numeric, categorical = load_frames(sys.argv[1])
    result = measure(lambda: run_evidently(ref, cur, numeric, categorical), (ref, cur), rss_libs)
    result["evidently"] = __import__("evidently").__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
