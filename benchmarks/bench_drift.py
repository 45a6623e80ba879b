"""Drift benchmark: jupyter_mlops ``detect_drift`` side by side with plain scipy and Evidently.

    bash benchmarks/setup_evidently.sh                       # once: benchmarks/.venv-evidently
    PYTHONPATH=. python benchmarks/bench_drift.py            # 10k, 100k and 1M rows
    PYTHONPATH=. python benchmarks/bench_drift.py --sizes 10000,100000 --repeats 3

Data: 25 columns (20 numeric, 5 categorical) on each side, generated with numpy from fixed seeds
(:func:`make_data`): normal, log-normal, uniform and rounded ("age-like", many ties) numeric
columns, categorical columns with 3 to 200 values drawn with Zipf-like weights, some missing
values. In the current frame ``num_00``-``num_03`` are shifted by 0.1-0.4 standard deviations,
``num_04`` is scaled by 1.05, ``num_05`` gets 1 % missing values, and ``cat_0``/``cat_1`` change
their weights. The columns are written once to ``.npy`` files that every tool loads, so all
three see the same bytes.

Each measurement runs in its own fresh process (never two at the same time: two cores):

- ``ours``: ``detect_drift(reference, current, progress=False)`` (automatic choice);
- ``scipy``: the same tests written plainly per column: ``scipy.stats.wasserstein_distance``
  divided by ``np.std`` for numeric columns and ``scipy.spatial.distance.jensenshannon`` on
  ``value_counts`` shares for categorical ones, missing values dropped;
- ``evidently``: Evidently 0.7.23 ``Report([DataDriftPreset()])`` with an explicit
  ``DataDefinition`` (its own virtual environment, pandas<3: ``_peer_evidently.py``).

Per measurement: CPU seconds of the drift call (``time.process_time``, all threads), wall
seconds, CPU seconds of the whole process (imports and data loading included, from
``getrusage(RUSAGE_CHILDREN)``), the peak RSS during the call (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``), the process's ``ru_maxrss``, and the in-memory size of the two
frames (``memory_usage(deep=True)``). Per-column verdicts of the three tools are compared.
Results go to ``benchmarks/results/drift.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEER_PYTHON = os.path.join(HERE, ".venv-evidently", "bin", "python")
RESULTS = os.path.join(HERE, "results", "drift.json")
N_NUMERIC, N_CATEGORICAL = 20, 5
CATEGORY_SIZES = (3, 8, 20, 50, 200)
TOOLS = ("ours", "scipy", "evidently")


# --- data ------------------------------------------------------------------------------------


def make_data(n: int, folder: str, seed: int = 2024) -> None:
    """Write the reference and current columns of ``n`` rows each as ``.npy`` files."""
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    for side, offset in (("ref", 0), ("cur", 1)):
        rng = np.random.default_rng([seed, offset])
        for j in range(N_NUMERIC):
            np.save(os.path.join(folder, f"{side}_num_{j:02d}.npy"), _numeric(rng, j, n, side))
        for j, k in enumerate(CATEGORY_SIZES):
            np.save(os.path.join(folder, f"{side}_cat_{j}.npy"), _codes(rng, j, k, n, side))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"n": n, "seed": seed, "category_sizes": CATEGORY_SIZES}, f)


def _numeric(rng: Any, j: int, n: int, side: str) -> Any:
    import numpy as np

    shift = 0.1 * (j + 1) if side == "cur" and j < 4 else 0.0
    scale = 1.05 if side == "cur" and j == 4 else 1.0
    family = j % 4
    if family == 0:
        x = rng.normal(shift, scale, n)
    elif family == 1:
        x = np.exp(rng.normal(shift * 0.5, 0.5 * scale, n))
    elif family == 2:
        x = rng.uniform(0, 100, n) * scale + shift * 29
    else:
        x = np.round(rng.normal(45 + shift * 15, 15 * scale, n))
    if side == "cur" and j == 5:
        x[rng.random(n) < 0.01] = np.nan
    if j == 9:
        x[rng.random(n) < 0.002] = np.nan
    return x


def _codes(rng: Any, j: int, k: int, n: int, side: str) -> Any:
    import numpy as np

    weights = 1.0 / np.arange(1, k + 1) ** 1.1
    if side == "cur" and j == 0:
        weights = weights[::-1].copy()
    if side == "cur" and j == 1:
        weights[0] *= 1.3
    codes = rng.choice(k, size=n, p=weights / weights.sum()).astype(np.int16)
    if j == 4:
        codes[rng.random(n) < 0.02] = -1  # missing
    return codes


def load_frames(folder: str) -> tuple[Any, Any, list[str], list[str]]:
    """The reference and current DataFrames, and the numeric and categorical column names."""
    import numpy as np
    import pandas as pd

    numeric = [f"num_{j:02d}" for j in range(N_NUMERIC)]
    categorical = [f"cat_{j}" for j in range(N_CATEGORICAL)]
    frames = []
    for side in ("ref", "cur"):
        data = {c: np.load(os.path.join(folder, f"{side}_{c}.npy")) for c in numeric}
        for j, c in enumerate(categorical):
            labels = np.array([f"c{j}_{i:03d}" for i in range(CATEGORY_SIZES[j])] + [None])
            data[c] = labels[np.load(os.path.join(folder, f"{side}_{c}.npy"))]
        frames.append(pd.DataFrame(data))
        del data
    gc.collect()
    return frames[0], frames[1], numeric, categorical


# --- measuring inside a worker ---------------------------------------------------------------


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """The resident memory of this process now, after handing freed heap back to the OS.

    Without ``malloc_trim`` the memory freed while the frames were built (pandas copies the
    columns into blocks) stays in the heap, and the call's own allocations would reuse it
    unseen.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return _status_mb("VmRSS")


def measure(run: Any, frames: tuple[Any, Any], rss_libs: float) -> dict[str, Any]:
    """Time ``run()`` and record the memory around it; returns numbers plus ``run``'s result.

    ``rss_libs`` is the resident memory after the imports and before the frames were loaded:
    ``rss_before - rss_libs`` is what the frames take in memory.
    """
    pandas_mb = sum(f.memory_usage(deep=True, index=True).sum() for f in frames) / 2**20
    rss_before = rss_mb()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM so the peak below is the call's
        peak_reset = True
    except OSError:
        peak_reset = False
    cpu0, wall0 = time.process_time(), time.perf_counter()
    verdicts = run()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak = _status_mb("VmHWM")
    frames_mb = rss_before - rss_libs
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "frames_mb": frames_mb,
        "frames_pandas_deep_mb": pandas_mb,
        "rss_libs_mb": rss_libs,
        "rss_before_mb": rss_before,
        "peak_call_mb": peak,
        "extra_peak_mb": peak - rss_before,
        "peak_over_frames": (frames_mb + peak - rss_before) / frames_mb,
        "peak_reset": peak_reset,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "columns": verdicts,
    }


def run_ours(ref: Any, cur: Any) -> dict[str, Any]:
    """Verdicts of ``detect_drift`` with its automatic choice."""
    from jupyter_mlops.monitoring import detect_drift

    report = detect_drift(ref, cur, progress=False)
    out = {}
    for row in report.to_dict()["columns"]:
        score = row["statistic"] if row["p_value"] is None else row["p_value"]
        out[row["column"]] = {"method": row["method"], "score": score, "drifted": row["drifted"]}
    return out


def run_scipy(ref: Any, cur: Any, numeric: list[str], categorical: list[str]) -> dict[str, Any]:
    """The same tests as the automatic choice above 1000 rows, written plainly with scipy."""
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    out = {}
    for c in numeric:
        r, k = ref[c].dropna().to_numpy(), cur[c].dropna().to_numpy()
        score = stats.wasserstein_distance(r, k) / max(float(np.std(r)), 0.001)
        out[c] = {"method": "wasserstein", "score": float(score), "drifted": bool(score >= 0.1)}
    for c in categorical:
        r, k = ref[c].value_counts(), cur[c].value_counts()
        keys = r.index.union(k.index)
        p = r.reindex(keys, fill_value=0).to_numpy() / r.sum()
        q = k.reindex(keys, fill_value=0).to_numpy() / k.sum()
        score = float(distance.jensenshannon(p, q))
        out[c] = {"method": "jensenshannon", "score": score, "drifted": score >= 0.1}
    return out


def worker(tool: str, folder: str) -> None:
    """Import, load the data, measure one tool, print one JSON line."""
    import pandas  # noqa: F401 - imports are neither the call's time nor the frames' memory
    import scipy.spatial.distance  # noqa: F401
    import scipy.stats  # noqa: F401

    if tool == "ours":
        import jupyter_mlops.monitoring.drift  # noqa: F401
    rss_libs = rss_mb()
    ref, cur, numeric, categorical = load_frames(folder)
    if tool == "ours":
        run = lambda: run_ours(ref, cur)  # noqa: E731
    else:
        run = lambda: run_scipy(ref, cur, numeric, categorical)  # noqa: E731
    print(json.dumps(measure(run, (ref, cur), rss_libs)))


# --- the parent ------------------------------------------------------------------------------


def spawn(tool: str, folder: str) -> dict[str, Any]:
    """Run one measurement in a fresh process; adds its whole-process CPU time."""
    if tool == "evidently":
        cmd = [PEER_PYTHON, os.path.join(HERE, "_peer_evidently.py"), folder]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", tool, "--data", folder]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, HERE])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} worker failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["process_cpu_s"] = used
    return result


def agreement(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-column verdict agreement of every tool with ``ours``, and the largest score gap."""
    ours = results["ours"]["columns"]
    out = {}
    for tool, result in results.items():
        if tool == "ours":
            continue
        theirs = result["columns"]
        differ = [c for c in ours if theirs.get(c, {}).get("drifted") != ours[c]["drifted"]]
        gaps = [
            abs(theirs[c]["score"] - ours[c]["score"])
            for c in ours
            if c in theirs and theirs[c]["score"] is not None and ours[c]["score"] is not None
        ]
        out[tool] = {
            "agree": len(ours) - len(differ),
            "columns": len(ours),
            "differ": differ,
            "max_score_gap": max(gaps) if gaps else None,
        }
    return out


def bench_size(n: int, repeats: int, tools: list[str]) -> dict[str, Any]:
    """Measure every tool ``repeats`` times on ``n`` rows; keeps the run with median CPU."""
    folder = tempfile.mkdtemp(prefix=f"drift-{n}-")
    try:
        make_data(n, folder)
        results = {}
        for tool in tools:
            runs = []
            for _ in range(repeats):
                run = spawn(tool, folder)
                runs.append(run)
                _log(f"  {n:>9,} {tool:<9} cpu {run['cpu_s']:8.2f} s  wall {run['wall_s']:8.2f} s  "
                     f"extra peak {run['extra_peak_mb']:7.0f} MB")  # fmt: skip
            runs.sort(key=lambda r: r["cpu_s"])
            results[tool] = {**runs[len(runs) // 2], "cpu_s_all": [r["cpu_s"] for r in runs]}
        return {"n": n, "results": results, "agreement": agreement(results)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def table(sizes: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| rows per side | tool | CPU of the call (s) | wall (s) | CPU of the process (s) | "
        "frames (MB) | RSS before (MB) | peak RSS in the call (MB) | (frames + extra) / frames "
        "| verdicts = ours |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in sizes:
        for tool, r in size["results"].items():
            agree = size["agreement"].get(tool)
            verdict = "—" if agree is None else f"{agree['agree']}/{agree['columns']}"
            lines.append(
                f"| {size['n']:,} | {tool} | {r['cpu_s']:.2f} | {r['wall_s']:.2f} | "
                f"{r['process_cpu_s']:.1f} | {r['frames_mb']:.0f} | {r['rss_before_mb']:.0f} | "
                f"{r['peak_call_mb']:.0f} | {r['peak_over_frames']:.2f} | {verdict} |"
            )
    return "\n".join(lines)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """Python, platform, cores and load average."""
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
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3, help="runs per tool below 1M rows")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--worker", choices=["ours", "scipy"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data)
        return
    tools = args.tools.split(",")
    if "evidently" in tools and not os.path.exists(PEER_PYTHON):
        sys.exit("Evidently's venv is missing: run bash benchmarks/setup_evidently.sh first.")
    info = machine()
    sizes = []
    for n in (int(s) for s in args.sizes.split(",")):
        sizes.append(bench_size(n, args.repeats if n < 1_000_000 else 1, tools))
    info["loadavg_end"] = list(os.getloadavg())
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"machine": info, "sizes": sizes}, f, indent=1)
    print(table(sizes))
    for size in sizes:
        print(f"{size['n']:,} rows: agreement with ours {json.dumps(size['agreement'])}")


if __name__ == "__main__":
    main()
