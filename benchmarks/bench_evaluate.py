"""Evaluation benchmark: ``mlops.evaluate`` with all plots beside ``mlflow.models.evaluate``.

    bash benchmarks/setup_peers.sh                        # once: benchmarks/.venv-mlflow
    PYTHONPATH=. python benchmarks/bench_evaluate.py      # 100,000 rows, 3 repeats each
    PYTHONPATH=. python benchmarks/bench_evaluate.py --rows 20000 --repeats 1   # smoke run

Data: ``make_classification`` (20 features, 8 informative, seed 0) written once to ``.npy``
files: 20,000 training rows and ``--rows`` evaluation rows. Each tool runs in its own fresh
process (one after the other: two cores) and fits the same ``LogisticRegression(max_iter=500)``
on the same training rows, then evaluates the evaluation rows ``--repeats`` times:

- ``ours``: ``evaluate(model, X, y)`` (metrics, the fit check, plot data, logged to a new run
  of a temporary embedded store with its JSON artifact), then every plot rendered as themed SVG
  (confusion matrix, ROC, PR, calibration, error by feature): the ``%mlops_evaluate`` panel's
  work. Also timed apart: the metrics alone (``log=False``, no plots).
- ``mlflow``: ``mlflow.models.evaluate(model_uri, data, targets="label",
  model_type="classifier")`` in MLflow's own venv (``_peer_mlflow_evaluate.py``) on a SQLite
  tracking store in a temporary folder, the model logged with ``mlflow.sklearn.log_model``
  before the clock starts; SHAP explanations off (``log_model_explainability: False``: we have
  none), everything else MLflow's defaults (its metrics and plots: ROC, PR, lift, confusion
  matrix, calibration).

Reported per tool: the first (cold: imports of matplotlib etc. inside the call) and the median
of the later (warm) wall seconds; both tools' accuracy and ROC AUC, which must agree. Results,
machine and load go to ``benchmarks/results/evaluate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEER_PYTHON = os.path.join(HERE, ".venv-mlflow", "bin", "python")
PEER_SCRIPT = os.path.join(HERE, "_peer_mlflow_evaluate.py")
RESULTS = os.path.join(HERE, "results", "evaluate.json")
TRAIN_ROWS = 20_000
GOAL_S = 2.0


def make_data(rows: int, folder: str) -> None:
    """Training and evaluation rows as ``.npy`` files every tool loads."""
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=TRAIN_ROWS + rows, n_features=20, n_informative=8, flip_y=0.05, random_state=0
    )
    np.save(os.path.join(folder, "X_train.npy"), X[:TRAIN_ROWS])
    np.save(os.path.join(folder, "y_train.npy"), y[:TRAIN_ROWS])
    np.save(os.path.join(folder, "X_eval.npy"), X[TRAIN_ROWS:])
    np.save(os.path.join(folder, "y_eval.npy"), y[TRAIN_ROWS:])


def load(folder: str) -> tuple[Any, Any, Any, Any]:
    """``(X_train, y_train, X_eval, y_eval)`` with the features as DataFrames."""
    import numpy as np
    import pandas as pd

    def frame(name: str) -> Any:
        values = np.load(os.path.join(folder, name))
        return pd.DataFrame(values, columns=[f"f{i:02d}" for i in range(values.shape[1])])

    return (
        frame("X_train.npy"),
        np.load(os.path.join(folder, "y_train.npy")),
        frame("X_eval.npy"),
        np.load(os.path.join(folder, "y_eval.npy")),
    )


def worker(folder: str, repeats: int) -> None:
    """Our side, in a fresh process: prints one JSON line."""
    os.environ["JUPYTER_MLOPS_STORE"] = os.path.join(folder, "store")
    from sklearn.linear_model import LogisticRegression

    import jupyter_mlops as mlops
    from jupyter_mlops.evaluation.plots import svgs

    X_train, y_train, X, y = load(folder)
    model = LogisticRegression(max_iter=500).fit(X_train, y_train)
    full, metrics_only = [], []
    report = None
    for _ in range(repeats + 1):
        started = time.perf_counter()
        report = mlops.evaluate(model, X, y)
        drawn = svgs(report.plot_data)
        full.append(time.perf_counter() - started)
        started = time.perf_counter()
        mlops.evaluate(model, X, y, log=False)
        metrics_only.append(time.perf_counter() - started)
    assert report is not None
    print(json.dumps({
        "seconds": full,
        "metrics_only_seconds": metrics_only,
        "plots": sorted(drawn),
        "accuracy": report.metrics["accuracy"],
        "roc_auc": report.metrics["roc_auc"],
        "metrics": sorted(report.metrics),
    }))  # fmt: skip


def spawn(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement process; its last stdout line is JSON."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise SystemExit(f"{command[1]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Cold (first) and warm (median of the rest) seconds."""
    seconds = result["seconds"]
    warm = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return {"cold_s": seconds[0], "warm_s": warm, **result}


def machine() -> dict[str, Any]:
    """Python, platform, cores, load average and the commit measured."""
    commit = subprocess.run(
        ["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit,
    }


def table(ours: dict[str, Any], peer: dict[str, Any] | None, rows: int) -> str:
    """The result as a Markdown table."""
    lines = [
        f"| {rows:,} rows | jupyter_mlops | MLflow | ratio (MLflow / ours) |",
        "| --- | --- | --- | --- |",
    ]
    for key, label in (("warm_s", "evaluate + all plots, warm"), ("cold_s", "first call, cold")):
        theirs = peer[key] if peer else None
        ratio = f"{theirs / ours[key]:.1f}×" if theirs else "n/a"
        shown = f"{theirs:.2f} s" if theirs else "skipped"
        lines.append(f"| {label} | {ours[key]:.2f} s | {shown} | {ratio} |")
    metrics = statistics.median(ours["metrics_only_seconds"][1:] or ours["metrics_only_seconds"])
    lines.append(f"| metrics only (no plots, not logged) | {metrics:.2f} s | | |")
    return "\n".join(lines)


def main() -> None:
    """Parse the command line and run the benchmark (or our worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per tool")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeats)
        return
    if not args.no_mlflow and not os.path.exists(PEER_PYTHON):
        sys.exit("MLflow's venv is missing: run bash benchmarks/setup_peers.sh (or --no-mlflow).")
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as folder:
        make_data(args.rows, folder)
        ours = summary(spawn([sys.executable, __file__, "--worker", folder,
                              "--repeats", str(args.repeats)]))  # fmt: skip
        peer = None
        if not args.no_mlflow:
            peer = summary(spawn([PEER_PYTHON, PEER_SCRIPT, folder, str(args.repeats)]))
    info["loadavg_end"] = list(os.getloadavg())
    agree = peer is None or (
        abs(ours["accuracy"] - peer["accuracy"]) < 1e-9
        and abs(ours["roc_auc"] - peer["roc_auc"]) < 1e-6
    )
    out = {"machine": info, "rows": args.rows, "goal_s": GOAL_S, "ours": ours, "mlflow": peer,
           "metrics_agree": agree}  # fmt: skip
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)
    print(table(ours, peer, args.rows))
    print(f"goal ≤ {GOAL_S} s: {'met' if ours['warm_s'] <= GOAL_S else 'MISSED'}; "
          f"accuracy/ROC AUC agree with MLflow: {agree}; load {info['loadavg_start']} -> "
          f"{info['loadavg_end']}")  # fmt: skip


if __name__ == "__main__":
    main()
