"""The ``mlflow+`` backend side by side with MLflow's own client, on one loopback MLflow server.

    bash benchmarks/setup_peers.sh                          # once: MLflow 3.17.2 in its venv
    PYTHONPATH=. python benchmarks/bench_mlflow_server.py   # full run (about 3 minutes)
    PYTHONPATH=. python benchmarks/bench_mlflow_server.py --quick

One ``mlflow server`` (the peer venv's, SQLite backend, proxied artifacts, 127.0.0.1) serves both
tools. jupyter_mlops runs in this process with ``JUPYTER_MLOPS_STORE=mlflow+http://...``; MLflow's
client runs in the peer venv (``_peer_mlflow_server.py``) and answers one command at a time, so the
two take turns on the same server and machine load. Measured:

1. logging N metric points from a loop: the loop's wall time with our ``log_metric`` and with
   MLflow's ``mlflow.log_metric`` (synchronous, its default; ``synchronous=False`` for reference),
   and for ours the time from ``end_run`` until all N points are on the server;
2. ``search_runs`` with a two-clause filter into a DataFrame over the same 1,000 server runs
   (``bench_tracking``'s data set), calls interleaved.

Targets (issue "Outgrow one machine"): the loop ≥ 100× faster than MLflow's; every point on the
server within 2 s of the run's end; search no slower than MLflow's. Results go to
``benchmarks/results/mlflow-server.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from bench_tracking import (  # noqa: E402
    PEER_PYTHON,
    PEER_VENV,
    RESULTS_DIR,
    SEARCH_FILTER,
    expected_matches,
    fmt_s,
    log,
    machine_info,
    search_dataset,
)
from mlflow_server import MlflowServer  # noqa: E402

FULL = {"points": 10_000, "async_points": 2_000, "search_runs": 1_000, "search_repeats": 9}
QUICK = {"points": 1_000, "async_points": 1_000, "search_runs": 100, "search_repeats": 3}


class Peer:
    """MLflow's client in the peer venv, one JSON command per call."""

    def __init__(self, url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        self.proc = subprocess.Popen(
            [PEER_PYTHON, os.path.join(HERE, "_peer_mlflow_server.py"), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.hello = json.loads(self.proc.stdout.readline())

    def __call__(self, **cmd: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MLflow peer exited")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def points_on_server(url: str, run_id: str) -> int:
    from mlflow import MlflowClient

    return len(MlflowClient(tracking_uri=url).get_metric_history(run_id, "loss"))


def summary_count(url: str, run_id: str) -> int:
    """The count in the run's ``mlops.summary.loss`` tag: written once every batch is stored.

    One cheap request, where reading back 10,000 points takes seconds of its own.
    """
    from mlflow import MlflowClient

    tag = MlflowClient(tracking_uri=url).get_run(run_id).data.tags.get("mlops.summary.loss")
    return int(json.loads(tag)["count"]) if tag else 0


def our_log_loop(url: str, n: int) -> dict[str, Any]:
    """N ``log_metric`` calls in a run on the server; loop time, then time until all arrived."""
    import jupyter_mlops as mlops

    mlops.set_tracking_uri(f"mlflow+{url}")
    mlops.set_experiment("bench-log-loop")
    run = mlops.start_run(name="loop")
    t = time.perf_counter()
    for i in range(n):
        mlops.log_metric("loss", 1.0 / (i + 1), step=i)
    loop = time.perf_counter() - t
    ended = time.perf_counter()
    mlops.end_run()
    end_call = time.perf_counter() - ended
    arrived = None
    while time.perf_counter() - ended < 60:
        if summary_count(url, run.id) >= n:
            arrived = time.perf_counter() - ended
            break
        time.sleep(0.05)
    return {
        "loop_s": loop,
        "per_call_s": loop / n,
        "end_run_s": end_call,
        "all_on_server_after_end_s": arrived,
        "points": points_on_server(url, run.id),
    }


def our_search(experiment: str, expected: int) -> float:
    import jupyter_mlops as mlops

    t = time.perf_counter()
    frame = mlops.search_runs(experiments=experiment, filter=SEARCH_FILTER)
    took = time.perf_counter() - t
    if len(frame) != expected:
        raise AssertionError(f"jupyter_mlops found {len(frame)} runs, expected {expected}")
    return took


def run(cfg: dict[str, Any], root: str) -> dict[str, Any]:
    # MLflow's default of 4 worker processes, as teams run it (the tests use 1)
    command = os.path.join(PEER_VENV, "bin", "mlflow")
    server = MlflowServer(command, os.path.join(root, "server"), workers=4)
    log(f"starting mlflow server ({server.url})")
    server.start()
    peer = Peer(server.url)
    out: dict[str, Any] = {"mlflow_version": peer.hello["mlflow_version"], "sizes": cfg}
    try:
        # a fresh server's workers import and connect on their first requests: warm them (and
        # both clients) up before anything is timed
        log("warming up the server with both clients")
        our_log_loop(server.url, 2_000)
        peer(cmd="log_loop", n=50, synchronous=True, experiment="bench-warmup")
        import jupyter_mlops as mlops

        mlops.flush()  # nothing of the warm-up may still be in flight
        time.sleep(1)
        n = cfg["points"]
        log(f"jupyter_mlops: {n:,} log_metric calls, then until all are on the server")
        out["ours_loop"] = our_log_loop(server.url, n)
        log(f"MLflow: {n:,} mlflow.log_metric calls (synchronous)")
        out["mlflow_loop"] = peer(cmd="log_loop", n=n, synchronous=True, experiment="bench-sync")
        m = cfg["async_points"]
        log(f"MLflow: {m:,} mlflow.log_metric(synchronous=False) calls, then flush")
        out["mlflow_async_loop"] = peer(
            cmd="log_loop", n=m, synchronous=False, experiment="bench-async"
        )
        data = search_dataset(cfg["search_runs"])
        log(f"populating {len(data):,} runs for the search (MLflow's client, log_batch)")
        out["populate"] = peer(cmd="populate", experiment="bench-search", runs=data)
        expected = expected_matches(data)
        ours, theirs = [], []
        our_search("bench-search", expected)  # both sides' first call warms their imports
        peer(cmd="search", experiment="bench-search", filter=SEARCH_FILTER)
        for _ in range(cfg["search_repeats"]):
            ours.append(our_search("bench-search", expected))
            answer = peer(cmd="search", experiment="bench-search", filter=SEARCH_FILTER)
            if answer["rows"] != expected:
                raise AssertionError(f"MLflow found {answer['rows']} runs, expected {expected}")
            theirs.append(answer["search_s"])
        out["search"] = {
            "runs": len(data),
            "rows": expected,
            "ours_median_s": statistics.median(ours),
            "mlflow_median_s": statistics.median(theirs),
            "ours_s": ours,
            "mlflow_s": theirs,
        }
    finally:
        peer.close()
        server.stop()
    return out


def table(out: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    ours, sync, asyn = out["ours_loop"], out["mlflow_loop"], out["mlflow_async_loop"]
    search = out["search"]
    loop_ratio = sync["loop_s"] / ours["loop_s"]
    arrived = ours["all_on_server_after_end_s"]
    search_ratio = search["mlflow_median_s"] / search["ours_median_s"]
    n, m = out["sizes"]["points"], out["sizes"]["async_points"]
    return [
        (
            f"{n:,} log_metric calls in a loop (wall)",
            fmt_s(ours["loop_s"]),
            fmt_s(sync["loop_s"]),
            f"{loop_ratio:,.0f}×",
            "≥ 100×",
            "PASS" if loop_ratio >= 100 else "FAIL",
        ),
        (
            f"  per call; MLflow synchronous=False ({m:,} calls; flushed after)",
            fmt_s(ours["per_call_s"]),
            f"{fmt_s(asyn['loop_s'] / m)} ({fmt_s(asyn['flushed_s'])})",
            f"{asyn['loop_s'] / m / ours['per_call_s']:,.0f}×",
            "reference",
            "info",
        ),
        (
            "all points on the server, after end_run",
            fmt_s(arrived),
            "—",
            "—",
            "≤ 2 s",
            "PASS" if arrived is not None and arrived <= 2 and ours["points"] == n else "FAIL",
        ),
        (
            f"search_runs, 2-clause filter, {search['runs']:,} server runs",
            fmt_s(search["ours_median_s"]),
            fmt_s(search["mlflow_median_s"]),
            f"{search_ratio:.2f}×",
            "≥ 1× (no slower)",
            "PASS" if search_ratio >= 1 else "FAIL",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--out", help="JSON results path")
    args = ap.parse_args(argv)
    if not os.path.isfile(PEER_PYTHON):
        print("run `bash benchmarks/setup_peers.sh` first (MLflow's venv)", file=sys.stderr)
        return 2
    cfg = QUICK if args.quick else FULL
    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-server-") as root:
        os.environ["JUPYTER_MLOPS_CACHE"] = os.path.join(root, "cache")
        started = time.perf_counter()
        out = run(cfg, root)
        out["duration_s"] = time.perf_counter() - started
    info["loadavg_end"] = list(os.getloadavg())
    out["machine"] = info
    rows = table(out)
    out["rows"] = [
        dict(zip(("metric", "ours", "mlflow", "ratio", "target", "result"), r, strict=True))
        for r in rows
    ]
    header = (
        "metric",
        "jupyter_mlops",
        f"MLflow {out['mlflow_version']}",
        "ratio",
        "target",
        "result",
    )
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    path = args.out or os.path.join(
        RESULTS_DIR, "mlflow-server-quick.json" if args.quick else "mlflow-server.json"
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(out, fh, indent=2)
    print(f"results: {path} ({out['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
