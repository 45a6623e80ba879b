"""The same stock ``mlflow`` client against ``jupyter mlops server`` and ``mlflow server``.

    bash benchmarks/setup_peers.sh                        # once: MLflow 3.17.2 in its venv
    PYTHONPATH=. python benchmarks/bench_mlflow_api.py    # full run (about 2 minutes)
    PYTHONPATH=. python benchmarks/bench_mlflow_api.py --quick

Two servers on loopback in one run: ``jupyter mlops server`` over an embedded store folder, and
``mlflow server`` on SQLite with proxied artifacts and its default 4 workers, as teams start it.
Two copies of one client process (the peer venv's MLflow, ``_peer_mlflow_server.py``), one per
server, take turns command by command, so both see the same machine load. Measured:

1. ``mlflow.log_metric`` per call (synchronous, MLflow's default): a run with N calls in a loop,
   rounds alternating between the servers (and a third, ours with ``JUPYTER_MLOPS_FSYNC=1``: an
   fsync per commit, as SQLite does by default); and the same points as raw ``runs/log-metric``
   requests, the server's own part (the client's work around each call — building the request,
   its Databricks and Spark checks — is the same whichever server answers);
2. ``mlflow.search_runs`` with a two-clause filter into a DataFrame over the same 1,000 runs
   (``bench_tracking``'s data set, written by the client's ``log_batch`` on each server), calls
   interleaved; and the same search as one raw ``runs/search`` request, the server's own part
   (the client's parsing and its DataFrame are the same work whichever server answered).

Target (issue "Speak the ecosystem's protocols exactly"): ≥ 5× faster for both. Results go to
``benchmarks/results/mlflow-api.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from bench_mlflow_server import Peer  # noqa: E402
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
from mlflow_server import MlflowServer, OurServer  # noqa: E402

FULL = {"points": 1_000, "rounds": 3, "search_runs": 1_000, "search_repeats": 9}
QUICK = {"points": 200, "rounds": 2, "search_runs": 100, "search_repeats": 3}
SIDES = ("ours", "mlflow")


def run(cfg: dict[str, Any], root: str) -> dict[str, Any]:
    servers = {
        "ours": OurServer(os.path.join(root, "ours")),
        "mlflow": MlflowServer(
            os.path.join(PEER_VENV, "bin", "mlflow"), os.path.join(root, "mlflow"), workers=4
        ),
    }
    for side, server in servers.items():
        log(f"starting the {side} server ({server.url})")
        server.start()
    # like for like on durability: SQLite fsyncs every commit; our store only when asked
    durable = OurServer(os.path.join(root, "ours-fsync"))
    os.environ["JUPYTER_MLOPS_FSYNC"] = "1"
    try:
        durable.start()
    finally:
        del os.environ["JUPYTER_MLOPS_FSYNC"]
    servers["ours-fsync"] = durable
    peers = {side: Peer(server.url) for side, server in servers.items()}
    out: dict[str, Any] = {"mlflow_version": peers["mlflow"].hello["mlflow_version"], "sizes": cfg}
    try:
        log("warming up both servers")
        for side in peers:
            peers[side](cmd="log_loop", n=50, synchronous=True, experiment="warmup")
        n = cfg["points"]
        loops: dict[str, list[float]] = {side: [] for side in peers}
        for round_ in range(cfg["rounds"]):
            for side in list(peers) if round_ % 2 == 0 else list(peers)[::-1]:
                answer = peers[side](
                    cmd="log_loop", n=n, synchronous=True, experiment=f"loop-{round_}"
                )
                if answer["points"] != n:
                    raise AssertionError(f"{side}: {answer['points']} points of {n}")
                loops[side].append(answer["loop_s"] / n)
            log(f"round {round_ + 1}: log_metric per call " + ", ".join(
                f"{side} {fmt_s(loops[side][-1])}" for side in peers
            ))  # fmt: skip
        out["log_metric"] = {side: {"per_call_s": statistics.median(v), "rounds_s": v}
                             for side, v in loops.items()}  # fmt: skip
        raw_loops: dict[str, list[float]] = {side: [] for side in SIDES}
        for round_ in range(cfg["rounds"]):
            for side in SIDES if round_ % 2 == 0 else SIDES[::-1]:
                answer = peers[side](cmd="raw_log_loop", n=n, experiment=f"raw-{round_}")
                if answer["points"] != n:
                    raise AssertionError(f"{side}: {answer['points']} raw points of {n}")
                raw_loops[side].append(answer["loop_s"] / n)
        out["raw_log_metric"] = {f"{side}_per_call_s": statistics.median(raw_loops[side])
                                 for side in SIDES}  # fmt: skip

        data = search_dataset(cfg["search_runs"])
        expected = expected_matches(data)
        out["populate_s"] = {}
        for side in SIDES:
            log(f"{side}: {len(data):,} runs with the client's log_batch")
            answer = peers[side](cmd="populate", experiment="bench-search", runs=data)
            out["populate_s"][side] = answer["populate_s"]
        times: dict[str, list[float]] = {side: [] for side in SIDES}
        for side in SIDES:  # the first search of each warms its caches
            peers[side](cmd="search", experiment="bench-search", filter=SEARCH_FILTER)
        for _ in range(cfg["search_repeats"]):
            for side in SIDES:
                answer = peers[side](cmd="search", experiment="bench-search", filter=SEARCH_FILTER)
                if answer["rows"] != expected:
                    raise AssertionError(f"{side} found {answer['rows']} runs, not {expected}")
                times[side].append(answer["search_s"])
        raw: dict[str, list[float]] = {side: [] for side in SIDES}
        for _ in range(cfg["search_repeats"]):
            for side in SIDES:
                answer = peers[side](
                    cmd="raw_search", experiment="bench-search", filter=SEARCH_FILTER
                )
                if answer["rows"] != expected:
                    raise AssertionError(f"{side} answered {answer['rows']} runs, not {expected}")
                raw[side].append(answer["search_s"])
        out["raw_search"] = {f"{side}_median_s": statistics.median(raw[side]) for side in SIDES}
        out["search"] = {
            "runs": len(data),
            "rows": expected,
            **{f"{side}_median_s": statistics.median(times[side]) for side in SIDES},
            **{f"{side}_s": times[side] for side in SIDES},
        }
    finally:
        for side, peer in peers.items():
            peer.close()
            servers[side].stop()
    return out


def _reference(label: str, times: dict[str, float]) -> tuple[str, str, str, str, str, str]:
    ours, theirs = (next(v for k, v in times.items() if k.startswith(side)) for side in SIDES)
    return (label, fmt_s(ours), fmt_s(theirs), f"{theirs / ours:.1f}×", "reference", "info")


def table(out: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    loop, search = out["log_metric"], out["search"]
    loop_ratio = loop["mlflow"]["per_call_s"] / loop["ours"]["per_call_s"]
    search_ratio = search["mlflow_median_s"] / search["ours_median_s"]
    n = out["sizes"]["points"]
    return [
        (
            f"mlflow.log_metric per call (synchronous; {n:,} calls × {out['sizes']['rounds']})",
            fmt_s(loop["ours"]["per_call_s"]),
            fmt_s(loop["mlflow"]["per_call_s"]),
            f"{loop_ratio:.1f}×",
            "≥ 5×",
            "PASS" if loop_ratio >= 5 else "FAIL",
        ),
        _reference(
            "  of which the server's answer (raw runs/log-metric requests)", out["raw_log_metric"]
        ),
        (
            "  ours with JUPYTER_MLOPS_FSYNC=1 (an fsync per commit, as SQLite's)",
            fmt_s(loop["ours-fsync"]["per_call_s"]),
            fmt_s(loop["mlflow"]["per_call_s"]),
            f"{loop['mlflow']['per_call_s'] / loop['ours-fsync']['per_call_s']:.1f}×",
            "reference",
            "info",
        ),
        (
            f"mlflow.search_runs, 2-clause filter, {search['runs']:,} runs",
            fmt_s(search["ours_median_s"]),
            fmt_s(search["mlflow_median_s"]),
            f"{search_ratio:.1f}×",
            "≥ 5×",
            "PASS" if search_ratio >= 5 else "FAIL",
        ),
        _reference(
            "  of which the server's answer (one runs/search request, reply not parsed)",
            out["raw_search"],
        ),
        (
            f"  for reference: writing the {search['runs']:,} runs (log_batch each)",
            fmt_s(out["populate_s"]["ours"]),
            fmt_s(out["populate_s"]["mlflow"]),
            f"{out['populate_s']['mlflow'] / out['populate_s']['ours']:.1f}×",
            "reference",
            "info",
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
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-api-") as root:
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
    header = ("metric", "jupyter mlops server", f"mlflow server {out['mlflow_version']}",
              "ratio", "target", "result")  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    path = args.out or os.path.join(
        RESULTS_DIR, "mlflow-api-quick.json" if args.quick else "mlflow-api.json"
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(out, fh, indent=2)
    print(f"results: {path} ({out['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
