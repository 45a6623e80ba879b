"""MLflow's side of ``bench_mlflow_server.py``; run with the peer venv's Python.

    benchmarks/.venv-mlflow/bin/python benchmarks/_peer_mlflow_server.py TRACKING_URI

Answers one JSON command per line on stdin with one JSON line on stdout, so the caller can
interleave MLflow's calls with its own on the same server and the same machine load:

- ``{"cmd": "log_loop", "n": N, "synchronous": true}``: a run with N ``mlflow.log_metric`` calls
  in a loop (the loop's wall time; for ``synchronous: false`` also the time until flushed);
- ``{"cmd": "populate", "experiment": E, "runs": [...]}``: the search data set, one
  ``log_batch`` per run;
- ``{"cmd": "search", "experiment": E, "filter": F}``: ``mlflow.search_runs`` into a DataFrame;
- ``{"cmd": "raw_search", ...}``: the same search as one ``runs/search`` request (its reply
  neither parsed into MLflow's entities nor tabulated): the server's own time;
- ``{"cmd": "raw_log_loop", "experiment": E, "n": N}``: N ``runs/log-metric`` requests on one
  keep-alive session, without the client's own work around each call.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    answers, sys.stdout = sys.stdout, sys.stderr  # MLflow prints to stdout: keep it off ours
    import mlflow
    from _peer_mlflow import populate_runs  # the same data set, written the same way
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(sys.argv[1])
    client = MlflowClient()
    print(json.dumps({"mlflow_version": mlflow.__version__}), file=answers, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        out: dict = {}
        if cmd["cmd"] == "quit":
            break
        if cmd["cmd"] == "log_loop":
            mlflow.set_experiment(cmd["experiment"])
            with mlflow.start_run() as run:
                t = time.perf_counter()
                for i in range(cmd["n"]):
                    mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=cmd["synchronous"])
                out["loop_s"] = time.perf_counter() - t
                if not cmd["synchronous"]:
                    mlflow.flush_async_logging()
                out["flushed_s"] = time.perf_counter() - t
            out["points"] = len(client.get_metric_history(run.info.run_id, "loss"))
        elif cmd["cmd"] == "populate":
            exp_id = client.create_experiment(cmd["experiment"])
            t = time.perf_counter()
            populate_runs(client, exp_id, cmd["runs"])
            out["populate_s"] = time.perf_counter() - t
        elif cmd["cmd"] == "search":
            t = time.perf_counter()
            frame = mlflow.search_runs(
                experiment_names=[cmd["experiment"]], filter_string=cmd["filter"]
            )
            out["search_s"] = time.perf_counter() - t
            out["rows"] = len(frame)
        elif cmd["cmd"] == "raw_search":  # the server's answer alone: no parsing, no DataFrame
            import requests

            exp_id = client.get_experiment_by_name(cmd["experiment"]).experiment_id
            body = {"experiment_ids": [exp_id], "filter": cmd["filter"], "max_results": 50000}
            with requests.Session() as session:
                session.post(f"{sys.argv[1]}/api/2.0/mlflow/runs/search", json=body)  # connect
                t = time.perf_counter()
                reply = session.post(f"{sys.argv[1]}/api/2.0/mlflow/runs/search", json=body)
                out["search_s"] = time.perf_counter() - t
            reply.raise_for_status()
            out["rows"] = len(reply.json().get("runs", []))
            out["bytes"] = len(reply.content)
        elif cmd["cmd"] == "raw_log_loop":  # the server's answer alone: no client around it
            import requests

            mlflow.set_experiment(cmd["experiment"])
            with mlflow.start_run() as run, requests.Session() as session:
                url = f"{sys.argv[1]}/api/2.0/mlflow/runs/log-metric"
                now = int(time.time() * 1000)
                t = time.perf_counter()
                for i in range(cmd["n"]):
                    point = {"run_id": run.info.run_id, "key": "loss", "value": 1.0 / (i + 1),
                             "timestamp": now + i, "step": i}  # fmt: skip
                    session.post(url, json=point).raise_for_status()
                out["loop_s"] = time.perf_counter() - t
            out["points"] = len(client.get_metric_history(run.info.run_id, "loss"))
        print(json.dumps(out), file=answers, flush=True)


if __name__ == "__main__":
    main()
