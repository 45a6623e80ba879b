"""Model registry, side by side with MLflow's (SQLite store), on the same small model.

Measures, for a scikit-learn LogisticRegression on the breast cancer data (a pipeline with a
scaler), in the same invocation:

- registering a version from a fitted model object (our ``register_model(model, name)``;
  MLflow's ``log_model(..., registered_model_name=name)``, the one-call equivalent);
- ``load_model("models:/name@alias")``.

Run ``bash benchmarks/setup_peers.sh`` once, then ``python benchmarks/bench_registry.py``
(``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MLFLOW_PY = os.path.join(HERE, ".venv-mlflow", "bin", "python")

COMMON = textwrap.dedent(
    """
    import copy, json, statistics, sys, time, warnings
    warnings.simplefilter("ignore")
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    work, n = sys.argv[1], int(sys.argv[2])

    def timed(fn, n):
        fn()  # warm up (imports, schema)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return {"median_s": statistics.median(samples), "min_s": min(samples), "n": n}
    """
)

OURS = COMMON + textwrap.dedent(
    """
    import jupyter_mlops as mlops
    mlops.set_tracking_uri(work + "/mlops-store")
    # a fresh object each time: registering an already-logged object would reuse its artifact
    copies = iter([copy.deepcopy(model) for _ in range(n + 1)])
    example = X.head()
    register = timed(lambda: mlops.register_model(next(copies), "cancer", input_example=example), n)
    mlops.set_alias("cancer", "production", 1)
    load = timed(lambda: mlops.load_model("models:/cancer@production"), n)
    print(json.dumps({"register": register, "load": load}))
    """
)

MLFLOW = COMMON + textwrap.dedent(
    """
    import mlflow
    from mlflow import MlflowClient
    mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
    mlflow.set_experiment("registry-bench")

    def register():
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name="cancer",
                                     input_example=X.head())

    out = {"register": timed(register, n)}
    MlflowClient().set_registered_model_alias("cancer", "production", "1")
    out["load"] = timed(lambda: mlflow.sklearn.load_model("models:/cancer@production"), n)
    print(json.dumps(out))
    """
)


def run(python: str, code: str, work: str, n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run(
        [python, "-c", code, work, str(n)],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "registry.json"))
    args = ap.parse_args(argv)
    n = 5 if args.quick else 30
    results: dict = {}
    with tempfile.TemporaryDirectory() as work:
        results["jupyter_mlops"] = run(sys.executable, OURS, work, n)
        if os.path.exists(MLFLOW_PY):
            results["mlflow"] = run(MLFLOW_PY, MLFLOW, work, max(3, n // 3))
        else:
            print("MLflow venv missing: run bash benchmarks/setup_peers.sh (skipping MLflow)")
    ours = results["jupyter_mlops"]
    for what, target in (("register", 0.100), ("load", 0.050)):
        line = f"{what:>9}: jupyter_mlops {ours[what]['median_s'] * 1000:.1f} ms"
        if "mlflow" in results:
            theirs = results["mlflow"][what]["median_s"]
            line += f", MLflow {theirs * 1000:.1f} ms, {theirs / ours[what]['median_s']:.0f}x"
        line += f" | target <= {target * 1000:.0f} ms: "
        line += "PASS" if ours[what]["median_s"] <= target else "MISS"
        print(line)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
