"""Open Inference Protocol (V2) ``infer`` vs MLflow's ``/invocations``, on one model server.

One ``jupyter mlops serve`` process (the breast cancer LogisticRegression of
``bench_serving.py``, 30 double columns), one keep-alive client on loopback, one-row requests,
sequential; the three bodies take turns in rounds of 200 so load on the machine hits them alike:

- ``/invocations`` with ``dataframe_split`` (the serving benchmark's body);
- ``/v2/models/cancer/infer`` with one FP64 tensor of shape [1, 30] (rows, as Triton's client
  sends a feature matrix);
- ``/v2/models/cancer/infer`` with one FP64 tensor per column (30 tensors of shape [1]).

Goal: V2 ``infer`` p50 ≤ 2 ms, as ``/invocations``. Run::

    python benchmarks/bench_v2.py            # full (6,000 requests per body)
    python benchmarks/bench_v2.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_serving  # noqa: E402  (benchmarks/ is not a package)


def bodies() -> dict[str, tuple[str, bytes]]:
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    row = X.iloc[0].tolist()
    split = {"dataframe_split": {"columns": list(X.columns), "data": [row]}}
    rows = {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": row}]}
    columns = {
        "inputs": [
            {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
            for name, value in zip(X.columns, row, strict=True)
        ]
    }
    infer = "/v2/models/cancer/infer"
    return {
        "invocations": ("/invocations", json.dumps(split).encode()),
        "v2_rows": (infer, json.dumps(rows).encode()),
        "v2_columns": (infer, json.dumps(columns).encode()),
    }


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> int:
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def measure(port: int, cases: dict[str, tuple[str, bytes]], per_body: int) -> dict[str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for path, body in cases.values():
        for _ in range(100):  # warm up
            assert post(conn, path, body) == 200
    samples: dict[str, list[float]] = {name: [] for name in cases}
    rounds = max(1, per_body // 200)
    for _ in range(rounds):
        for name, (path, body) in cases.items():
            for _ in range(per_body // rounds):
                start = time.perf_counter()
                post(conn, path, body)
                samples[name].append((time.perf_counter() - start) * 1000)
    out = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {
            "requests": len(values),
            "p50_ms": statistics.median(values),
            "p95_ms": values[int(0.95 * (len(values) - 1))],
            "body_bytes": len(cases[name][1]),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "v2.json"))
    args = ap.parse_args(argv)
    per_body = 600 if args.quick else 6000
    cases = bodies()
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as work:
        proc, port = bench_serving.start_ours(work)
        try:
            bench_serving.wait_ready(port, cases["invocations"][1])
            results["latency"] = measure(port, cases, per_body)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    results["load_after"] = os.getloadavg()
    base = results["latency"]["invocations"]["p50_ms"]
    for name, figures in results["latency"].items():
        print(
            f"{name:>12}: p50 {figures['p50_ms']:.3f} ms, p95 {figures['p95_ms']:.3f} ms "
            f"({figures['p50_ms'] / base:.2f}x /invocations), {figures['body_bytes']} bytes"
        )
    v2 = max(results["latency"]["v2_rows"]["p50_ms"], results["latency"]["v2_columns"]["p50_ms"])
    print("target: V2 infer p50 <= 2 ms:", "PASS" if v2 <= 2 else "MISS")
    print(f"load average before/after: {results['load_before']} / {results['load_after']}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
