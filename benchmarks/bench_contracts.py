"""Data-contract benchmark: ``validate`` beside Pandera and Great Expectations, and the server.

    bash benchmarks/setup_contracts.sh                      # once: .venv-pandera, .venv-gx
    PYTHONPATH=. python benchmarks/bench_contracts.py       # 1,000,000 rows x 25 columns
    PYTHONPATH=. python benchmarks/bench_contracts.py --rows 100000 --repeats 3 --requests 300

Data (:func:`make_data`, fixed seeds): 25 columns — 12 float (3 of them with missing values),
6 integer, 6 string categories (5 to 40 values) and 1 boolean. About 0.1 % of the rows break a
rule: out-of-range numbers, unknown categories, missing values in required columns. The columns
are written once to ``.npy`` files that every tool loads, so all three see the same bytes.

The checks (``checks.json``), the same for the three tools: every column present; not null for
the 22 required columns; a range for the 18 numeric columns; an allowed set for the 6 category
columns — 52 checks. They come from ``profile()`` on clean data and are given to the peers as
plain numbers and lists: Pandera ``DataFrameSchema`` with ``Column(nullable=...)``,
``Check.in_range`` and ``Check.isin`` validated lazily (every failure collected); Great
Expectations 1.x ``ExpectColumnValuesToNotBeNull``, ``ExpectColumnValuesToBeBetween`` and
``ExpectColumnValuesToBeInSet`` in one suite on an ephemeral context (``result_format="SUMMARY"``).

Each tool runs in its own fresh process (never two at once): the validation call is timed
(wall and CPU, best of ``--repeats``) after the data is loaded; the failing-row counts per
column and check are compared across tools. The model server's part is measured in-process:
the contract check of one request (``ContractGuard.check``, what ``/invocations`` runs) on one
row given as ``dataframe_split`` rows, as the float array of the numeric fast path, and as a
DataFrame (``dataframe_records``); then end to end over loopback, p50 of ``--requests`` one-row
requests to a real server with the version's contract and to one without. Results go to
``benchmarks/results/contracts.json``.
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
RESULTS = os.path.join(HERE, "results", "contracts.json")
PEERS = {
    "pandera": os.path.join(HERE, ".venv-pandera", "bin", "python"),
    "great_expectations": os.path.join(HERE, ".venv-gx", "bin", "python"),
}
N_FLOAT, N_INT, N_CAT = 12, 6, 6
CAT_SIZES = (5, 10, 20, 30, 40, 12)
BAD_SHARE = 0.001


# --- data ------------------------------------------------------------------------------------
def make_data(n: int, folder: str, seed: int = 7) -> None:
    """Write the 25 columns as ``.npy`` and the checks as ``checks.json`` into ``folder``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for j in range(N_FLOAT):
        columns[f"f{j:02d}"] = rng.normal(j, 1 + j / 4, n)
    for j in range(N_INT):
        columns[f"i{j}"] = rng.integers(0, 100 * (j + 1), n)
    for j, size in enumerate(CAT_SIZES):
        values = np.array([f"c{j}_{k}" for k in range(size)])
        columns[f"cat{j}"] = values[rng.integers(0, size, n)]
    columns["flag"] = rng.random(n) < 0.3
    clean = {k: v[: min(n, 200_000)].copy() for k, v in columns.items()}
    _break(rng, columns, n)
    for name, values in columns.items():
        np.save(os.path.join(folder, f"{name}.npy"), values, allow_pickle=False)
    with open(os.path.join(folder, "checks.json"), "w") as f:
        json.dump(_checks(clean), f)


def _break(rng: Any, columns: dict[str, Any], n: int) -> None:
    import numpy as np

    bad = max(1, int(n * BAD_SHARE))
    for j in range(3):  # three nullable float columns
        columns[f"f{j:02d}"][rng.integers(0, n, bad * 5)] = np.nan
    for j in (3, 4, 5):  # missing values where none are allowed
        columns[f"f{j:02d}"][rng.integers(0, n, bad)] = np.nan
    for j in (6, 7, 8):
        columns[f"f{j:02d}"][rng.integers(0, n, bad)] = 1e6
    for j in range(N_INT):
        columns[f"i{j}"][rng.integers(0, n, bad)] = -1
    for j in range(N_CAT):
        column = columns[f"cat{j}"].astype(object)
        column[rng.integers(0, n, bad)] = "unknown"
        columns[f"cat{j}"] = column.astype(str)


def _checks(clean: dict[str, Any]) -> dict[str, Any]:
    """The checks, from ``profile()`` on clean data (the three nullable columns marked)."""
    import numpy as np
    import pandas as pd

    from jupyter_mlops.contracts.profile import profile

    frame = pd.DataFrame(clean)
    for j in range(3):
        frame.loc[frame.index[::50], f"f{j:02d}"] = np.nan
    contract = profile(frame)
    out = {}
    for column in contract:
        out[column.name] = {
            "nullable": column.allow_null,
            "range": [column.min_value, column.max_value] if column.has_range else None,
            "categories": column.value_set if column.kind == "categorical" else None,
        }
    return {"columns": out, "contract": contract.to_dict()}


def load_frame(folder: str) -> Any:
    """The benchmark frame (strings as pandas' default string dtype)."""
    import numpy as np
    import pandas as pd

    names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".npy"))
    data = {name: np.load(os.path.join(folder, f"{name}.npy")) for name in names}
    frame = pd.DataFrame(data)
    for name in names:
        if name.startswith("cat"):
            frame[name] = frame[name].astype("str")
    return frame


def load_checks(folder: str) -> dict[str, Any]:
    with open(os.path.join(folder, "checks.json")) as f:
        return json.load(f)


def timed(run: Any, repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` wall and CPU seconds of ``run()``, and its last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = run()
        cpus.append(time.process_time() - cpu0)
        walls.append(time.perf_counter() - wall0)
    return {"wall_s": min(walls), "cpu_s": min(cpus), "walls": walls, "failing": result}


# --- ours ------------------------------------------------------------------------------------
def run_ours(frame: Any, checks: dict[str, Any]) -> dict[str, int]:
    """Failing rows per ``column/check`` of ``validate`` with the profiled contract."""
    from jupyter_mlops.contracts import DataContract, validate

    contract = DataContract.from_dict(checks["contract"])
    report = validate(frame, contract)
    names = {"not_null": "not_null", "range": "range", "categories": "categories"}
    return {
        f"{c.column}/{names[c.check]}": c.failed
        for c in report.checks
        if c.check in names and c.failed
    }


def worker(tool: str, folder: str, repeats: int) -> None:
    """One tool in this process: load, validate ``repeats`` times, print one JSON line."""
    frame, checks = load_frame(folder), load_checks(folder)
    if tool == "ours":
        result = timed(lambda: run_ours(frame, checks), repeats)
    else:
        import _peer_contracts

        result = _peer_contracts.run(tool, frame, checks, repeats)
    result["rows"], result["columns"] = len(frame), frame.shape[1]
    print(json.dumps(result))


def spawn(tool: str, folder: str, repeats: int) -> dict[str, Any]:
    python = PEERS.get(tool, sys.executable)
    if not os.path.exists(python):
        raise SystemExit(f"{tool}'s venv is missing: run bash benchmarks/setup_contracts.sh")
    cmd = [python, os.path.abspath(__file__), "--worker", tool, "--data", folder]
    cmd += ["--repeats", str(repeats)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, HERE])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the model server ------------------------------------------------------------------------
def bench_requests(requests: int) -> dict[str, Any]:
    """The contract check of one request in-process, then one-row requests over loopback."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import jupyter_mlops as mlops
    from jupyter_mlops.contracts.enforce import ContractGuard, checker_for

    rng = np.random.default_rng(1)
    X = pd.DataFrame({f"f{j:02d}": rng.normal(0, 1, 2000) for j in range(20)})
    X = X.assign(**{f"c{j}": rng.choice(["a", "b", "c"], 2000) for j in range(5)})
    numeric = X.iloc[:, :20]
    y = (numeric["f00"] > 0).astype(int)
    checker = checker_for(mlops.profile(X), None)
    guard = ContractGuard("count")
    row = X.iloc[:1].astype(object).to_numpy().tolist()
    frame = X.iloc[:1]
    number_checker = checker_for(mlops.profile(numeric), None)
    array = numeric.iloc[:1].to_numpy()
    out = {
        "check_rows_us": _per_call(lambda: guard.check(checker, row, None)),
        "check_array_us": _per_call(lambda: guard.check(number_checker, array, array)),
        "check_frame_us": _per_call(lambda: guard.check(checker, frame, frame)),
    }
    with tempfile.TemporaryDirectory() as store:
        mlops.set_tracking_uri(store)
        os.environ["JUPYTER_MLOPS_STORE"] = store
        model = LogisticRegression(max_iter=300).fit(numeric, y)
        mlops.register_model(model, "with", input_example=numeric.head(), reference_data=numeric)
        mlops.register_model(model, "without", input_example=numeric.head())
        body = json.dumps(
            {"dataframe_split": {"columns": list(numeric.columns), "data": array.tolist()}}
        ).encode()
        for name in ("with", "without"):
            out[f"http_p50_ms_{name}_contract"] = _http_p50(f"models:/{name}/1", body, requests)
    return out


def _per_call(fn: Any, n: int = 20_000) -> float:
    """Median microseconds per call over 5 batches of ``n // 5`` calls."""
    batch = n // 5
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - start) / batch * 1e6)
    return statistics.median(times)


def _http_p50(uri: str, body: bytes, requests: int) -> float:
    import urllib.request

    from jupyter_mlops.serving.deploy import deploy, undeploy

    dep = deploy(uri, name=f"bench-{uri.split('/')[1]}")
    try:
        latencies = []
        for i in range(requests + 20):
            request = urllib.request.Request(
                dep.url + "/invocations", body, {"Content-Type": "application/json"}
            )
            start = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            if i >= 20:  # warm-up
                latencies.append((time.perf_counter() - start) * 1000)
        return statistics.median(latencies)
    finally:
        undeploy(dep.name)


# --- report ----------------------------------------------------------------------------------
def agreement(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per peer: the ``column/check`` keys whose failing counts differ from ours."""
    ours = results["ours"]["failing"]
    out = {}
    for tool, result in results.items():
        if tool == "ours":
            continue
        theirs = result["failing"]
        keys = set(ours) | set(theirs)
        out[tool] = {k: [ours.get(k, 0), theirs.get(k, 0)] for k in sorted(keys)
                     if ours.get(k, 0) != theirs.get(k, 0)}  # fmt: skip
    return out


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main() -> None:
    """Parse the command line and run the benchmark (or one worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--tools", default="ours,pandera,great_expectations")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.repeats)
        return
    info = machine()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-contracts-") as folder:
        make_data(args.rows, folder)
        for tool in args.tools.split(","):
            print(f"{tool}: validating {args.rows:,} rows x 25 columns ...", file=sys.stderr)
            results[tool] = spawn(tool, folder, args.repeats)
    serving = bench_requests(args.requests)
    info["loadavg_end"] = list(os.getloadavg())
    out = {"machine": info, "rows": args.rows, "validate": results, "serving": serving,
           "agreement": agreement(results) if "ours" in results else {}}  # fmt: skip
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(out, f, indent=1)
    ours = results.get("ours", {}).get("wall_s")
    for tool, result in results.items():
        ratio = f" ({result['wall_s'] / ours:.1f}x ours)" if ours and tool != "ours" else ""
        print(f"{tool:>20}: {result['wall_s']:.2f} s wall, {result['cpu_s']:.2f} s CPU{ratio}")
    for key, value in serving.items():
        print(f"{key:>32}: {value:.1f}")
    print(f"agreement (differing counts ours vs peer): {json.dumps(out['agreement'])}")
    print(f"load average {info['loadavg_start']} -> {info['loadavg_end']}")


if __name__ == "__main__":
    main()
