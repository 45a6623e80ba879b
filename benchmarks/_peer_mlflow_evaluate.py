"""MLflow side of ``bench_evaluate.py``; run with the peer venv's Python, prints JSON.

    benchmarks/.venv-mlflow/bin/python benchmarks/_peer_mlflow_evaluate.py DATA_FOLDER REPEATS

Fits the same ``LogisticRegression(max_iter=500)`` on the same training rows, logs it with
``mlflow.sklearn.log_model`` (not timed), then times ``mlflow.models.evaluate`` on the evaluation
rows (SQLite tracking store in DATA_FOLDER, SHAP explanations off).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd


def main() -> None:
    folder, repeats = sys.argv[1], int(sys.argv[2])
    os.chdir(folder)  # nothing may land in the caller's working directory
    import mlflow
    from sklearn.linear_model import LogisticRegression

    warnings.simplefilter("ignore")
    mlflow.set_tracking_uri(f"sqlite:///{os.path.join(folder, 'mlflow.db')}")
    X_train = np.load(os.path.join(folder, "X_train.npy"))
    columns = [f"f{i:02d}" for i in range(X_train.shape[1])]
    model = LogisticRegression(max_iter=500).fit(
        pd.DataFrame(X_train, columns=columns), np.load(os.path.join(folder, "y_train.npy"))
    )
    data = pd.DataFrame(np.load(os.path.join(folder, "X_eval.npy")), columns=columns)
    data["label"] = np.load(os.path.join(folder, "y_eval.npy"))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model")
    seconds, result = [], None
    for _ in range(repeats + 1):
        with mlflow.start_run():
            started = time.perf_counter()
            result = mlflow.models.evaluate(
                info.model_uri,
                data,
                targets="label",
                model_type="classifier",
                evaluator_config={"log_model_explainability": False},
            )
            seconds.append(time.perf_counter() - started)
    assert result is not None
    print(json.dumps({
        "seconds": seconds,
        "mlflow_version": mlflow.__version__,
        "accuracy": result.metrics["accuracy_score"],
        "roc_auc": result.metrics["roc_auc"],
        "artifacts": sorted(result.artifacts),
        "metrics": sorted(result.metrics),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
