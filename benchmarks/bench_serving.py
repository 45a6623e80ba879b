"""Model serving, side by side: ``jupyter mlops serve`` vs ``mlflow models serve``.

Both servers get the same model (a scikit-learn LogisticRegression on the breast cancer data,
trained with the same parameters in each environment), the same payloads, the same client and
the same concurrency, one after the other on loopback:

- latency of a one-row ``dataframe_split`` request, sequential (p50, p95);
- throughput at concurrency 16 over 10,000 requests, and the number of failed requests.

Run ``bash benchmarks/setup_peers.sh`` once (MLflow in ``benchmarks/.venv-mlflow``), then::

    python benchmarks/bench_serving.py            # full
    python benchmarks/bench_serving.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MLFLOW_PY = os.path.join(HERE, ".venv-mlflow", "bin", "python")
sys.path.insert(0, ROOT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payloads() -> tuple[bytes, list[str]]:
    from sklearn.datasets import load_breast_cancer

    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    body = {"dataframe_split": {"columns": list(X.columns), "data": X.iloc[:1].values.tolist()}}
    return json.dumps(body).encode(), list(X.columns)


def start_ours(work: str) -> tuple[subprocess.Popen, int]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    import jupyter_mlops as mlops

    store = os.path.join(work, "mlops-store")
    mlops.set_tracking_uri(store)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    mlops.register_model(model, "cancer", input_example=X.head())
    port = free_port()
    env = {**os.environ, "JUPYTER_MLOPS_STORE": store, "PYTHONPATH": ROOT}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_mlops", "serve", "models:/cancer/1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


MLFLOW_TRAIN = textwrap.dedent(
    """
    import sys, mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    mlflow.set_tracking_uri("sqlite:///" + sys.argv[1] + "/mlflow.db")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=5000).fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head())
    print(info.model_uri)
    """
)


def start_mlflow(work: str) -> tuple[subprocess.Popen, int]:
    bin_dir = os.path.dirname(MLFLOW_PY)  # mlflow starts uvicorn from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
        "PATH": bin_dir + os.pathsep + os.environ["PATH"],
    }
    uri = (
        subprocess.run(
            [MLFLOW_PY, "-c", MLFLOW_TRAIN, work],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    mlflow_bin = os.path.join(bin_dir, "mlflow")
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


def wait_ready(port: int, body: bytes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if request(http.client.HTTPConnection("127.0.0.1", port, timeout=2), body)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not become ready")


def request(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def sequential(port: int, body: bytes, n: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(50):  # warm up
        request(conn, body)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        request(conn, body)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p95_ms": samples[int(0.95 * (n - 1))]}


def concurrent(port: int, body: bytes, total: int, workers: int) -> dict:
    counter = iter(range(total))
    lock = threading.Lock()
    failures = [0]

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            try:
                status, _ = request(conn, body)
            except OSError:
                status = 0
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if status != 200:
                with lock:
                    failures[0] += 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "requests": total,
        "concurrency": workers,
        "seconds": elapsed,
        "throughput_rps": total / elapsed,
        "failed": failures[0],
    }


def measure(name: str, starter, work: str, body: bytes, args, requests: int) -> dict:
    proc, port = starter(work)
    try:
        wait_ready(port, body)
        result = {
            "sequential": sequential(port, body, args.sequential),
            "concurrent": concurrent(port, body, requests, args.concurrency),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        f"{name:>14}: p50 {result['sequential']['p50_ms']:.2f} ms, "
        f"p95 {result['sequential']['p95_ms']:.2f} ms, "
        f"{result['concurrent']['throughput_rps']:.0f} req/s at c={args.concurrency}, "
        f"{result['concurrent']['failed']} failed",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--no-mlflow", action="store_true", help="skip MLflow")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "serving.json"))
    args = ap.parse_args(argv)
    args.sequential = 300 if args.quick else 2000
    args.requests = 1000 if args.quick else 10_000
    args.concurrency = 16
    body, _ = payloads()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with tempfile.TemporaryDirectory() as work:
        results["jupyter_mlops"] = measure(
            "jupyter_mlops", start_ours, work, body, args, args.requests
        )
        if not args.no_mlflow:
            if not os.path.exists(MLFLOW_PY):
                print("MLflow venv missing: run bash benchmarks/setup_peers.sh (skipping MLflow)")
            else:
                # MLflow answers ~40 requests/s here: 2,000 give a stable throughput figure
                results["mlflow"] = measure(
                    "mlflow", start_mlflow, work, body, args, min(args.requests, 2000)
                )
    if "mlflow" in results:
        ours, theirs = results["jupyter_mlops"], results["mlflow"]
        results["ratios"] = {
            "p50_speedup": theirs["sequential"]["p50_ms"] / ours["sequential"]["p50_ms"],
            "throughput_ratio": ours["concurrent"]["throughput_rps"]
            / theirs["concurrent"]["throughput_rps"],
        }
        print(
            f"ratios: p50 {results['ratios']['p50_speedup']:.1f}x faster, "
            f"throughput {results['ratios']['throughput_ratio']:.1f}x MLflow's"
        )
    ours = results["jupyter_mlops"]
    print(
        "targets: p50 <= 2 ms:",
        "PASS" if ours["sequential"]["p50_ms"] <= 2 else "MISS",
        "| 10,000 requests at c=16 without errors:",
        "PASS" if ours["concurrent"]["failed"] == 0 and args.requests >= 10_000 else "n/a/MISS",
        "| throughput >= 2x MLflow:",
        ("PASS" if results.get("ratios", {}).get("throughput_ratio", 0) >= 2 else "MISS")
        if "ratios" in results
        else "n/a",
    )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
