"""MLflow side of ``bench_tracking.py``; run with the peer venv's Python, prints JSON.

    benchmarks/.venv-mlflow/bin/python benchmarks/_peer_mlflow.py CONFIG.json

CONFIG holds ``workdir`` (a temporary folder: the SQLite database and artifacts go there), the
sizes, and the path of the shared search data set (written by ``bench_tracking.py`` so both tools
search exactly the same runs). MLflow runs on its default SQLite store through an absolute
``sqlite:////...`` URI, with its fluent API: the calls a notebook user makes.

With ``serve_search`` the script prints its JSON line and then answers ``search`` and
``search_nofilter`` commands on stdin with one JSON line each, so that the caller can interleave
MLflow's searches with its own and both see the same machine load.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary_ns(samples: list[int]) -> dict:
    return {
        "n": len(samples),
        "median_s": statistics.median(samples) / 1e9,
        "p95_s": _pct(samples, 0.95) / 1e9,
        "mean_s": sum(samples) / len(samples) / 1e9,
        "min_s": min(samples) / 1e9,
    }


def populate_runs(client, exp_id: str, runs: list[dict]) -> None:
    """The search data set (``bench_tracking.search_dataset``), one ``log_batch`` per run."""
    from mlflow.entities import Metric, Param, RunTag

    for row in runs:
        run = client.create_run(exp_id, run_name=row["name"])
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in row["metrics"].items()],
            params=[Param(k, v) for k, v in row["params"].items()],
            tags=[RunTag(k, v) for k, v in row["tags"].items()],
        )
        client.set_terminated(run.info.run_id)


def main() -> None:
    cfg = json.load(open(sys.argv[1]))
    work = cfg["workdir"]
    db = os.path.join(work, "mlflow.db")
    artifacts = os.path.join(work, "mlartifacts")
    os.makedirs(artifacts, exist_ok=True)
    os.chdir(work)  # nothing may land in the caller's working directory

    out: dict = {"tracking_uri": f"sqlite:///{db}"}
    t0 = time.perf_counter()
    import mlflow
    from mlflow.tracking import MlflowClient

    out["import_s"] = time.perf_counter() - t0
    out["mlflow_version"] = mlflow.__version__
    import pandas
    import sqlalchemy

    out["pandas_version"] = pandas.__version__
    out["sqlalchemy_version"] = sqlalchemy.__version__

    t0 = time.perf_counter()
    mlflow.set_tracking_uri(f"sqlite:///{db}")  # db is absolute: sqlite:////tmp/...
    client = MlflowClient()

    def experiment(name: str) -> str:
        exp_id = mlflow.create_experiment(name, artifact_location=f"file://{artifacts}/{name}")
        mlflow.set_experiment(experiment_id=exp_id)
        return exp_id

    experiment("bench-setup")
    with mlflow.start_run():  # creates the schema (migrations) outside the timed parts
        pass
    out["store_init_s"] = time.perf_counter() - t0

    # 1. log_metric per call inside an active run (synchronous: MLflow's default)
    experiment("bench-log-metric")
    n = cfg["log_metric_calls"]
    samples = []
    with mlflow.start_run():
        for i in range(n):
            t = time.perf_counter_ns()
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            samples.append(time.perf_counter_ns() - t)
    out["log_metric"] = _summary_ns(samples)

    # 1b. the same with MLflow's opt-in asynchronous logging, for reference
    n_async = cfg.get("log_metric_async_calls", 0)
    if n_async:
        try:
            samples = []
            with mlflow.start_run():
                t_all = time.perf_counter_ns()
                for i in range(n_async):
                    t = time.perf_counter_ns()
                    mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
                    samples.append(time.perf_counter_ns() - t)
                t_end = time.perf_counter_ns()
            t_done = time.perf_counter_ns()  # end_run waits for the queue to drain
            out["log_metric_async"] = {
                **_summary_ns(samples),
                "total_including_drain_s": (t_done - t_all) / 1e9,
                "drain_s": (t_done - t_end) / 1e9,
            }
        except Exception as e:  # pragma: no cover - reference only
            out["log_metric_async"] = {"error": f"{type(e).__name__}: {e}"}

    # 2. a run with 10 params, 5 metrics and 3 tags
    experiment("bench-runs")
    params = {f"param_{i}": f"value_{i}" for i in range(10)}
    tags = {f"tag_{i}": f"t{i}" for i in range(3)}
    samples = []
    for r in range(cfg["runs"]):
        metrics = {f"metric_{i}": r * 0.01 + i for i in range(5)}
        t = time.perf_counter_ns()
        mlflow.start_run()
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        mlflow.end_run()
        samples.append(time.perf_counter_ns() - t)
    out["run_create"] = _summary_ns(samples)

    # 3. search_runs with a two-clause filter into a DataFrame, over the shared data set
    data = json.load(open(cfg["search_data"]))
    exp_id = experiment("bench-search")
    t = time.perf_counter()
    populate_runs(client, exp_id, data["runs"])
    out["search_populate_s"] = time.perf_counter() - t
    out["search_runs"] = len(data["runs"])

    def search(filter_string: str) -> dict:
        c = time.process_time_ns()
        t = time.perf_counter_ns()
        frame = mlflow.search_runs(experiment_ids=[exp_id], filter_string=filter_string)
        wall = time.perf_counter_ns() - t
        return {"wall_ns": wall, "cpu_ns": time.process_time_ns() - c, "rows": len(frame)}

    if not cfg.get("serve_search"):  # standalone: time the searches here
        for key, flt, repeats in (
            ("search", data["filter"], cfg["search_repeats"]),
            ("search_nofilter", "", cfg["search_nofilter_repeats"]),
        ):
            results = [search(flt) for _ in range(repeats)]
            out[key] = {
                **_summary_ns([r["wall_ns"] for r in results]),
                "cpu_median_s": statistics.median(r["cpu_ns"] for r in results) / 1e9,
                "rows": results[-1]["rows"],
                "runs": len(data["runs"]),
            }

    # 5 (reference). an empty "tracked" piece of work: start_run + end_run
    experiment("bench-empty")
    samples = []
    for _ in range(cfg["empty_runs"]):
        t = time.perf_counter_ns()
        with mlflow.start_run():
            pass
        samples.append(time.perf_counter_ns() - t)
    out["empty_run"] = _summary_ns(samples)

    print(json.dumps(out), flush=True)

    # Serve searches one at a time, so the caller can interleave them with its own: both tools
    # then see the same machine load. Commands on stdin: "search", "search_nofilter", "quit".
    if cfg.get("serve_search"):
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            flt = data["filter"] if command == "search" else ""
            print(json.dumps(search(flt)), flush=True)


if __name__ == "__main__":
    main()
