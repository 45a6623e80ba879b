"""Pipeline benchmark: exporting a 200-cell notebook, and an unchanged re-run of its pipeline.

    PYTHONPATH=. python benchmarks/bench_pipelines.py            # about 30 s
    PYTHONPATH=. python benchmarks/bench_pipelines.py --repeats 3

Targets (issue 7, point 8): a generated 200-cell notebook exports in ≤ 1 s; an unchanged re-run
of the local pipeline skips every step in ≤ 0.5 s.

The notebook has 200 cells: an ``imports``, a ``pipeline-parameters`` and a ``functions`` cell,
then 20 steps (a markdown heading, a ``block:`` cell and 7 or 8 more code cells each, some
with ``%`` lines), and a ``pipeline-metrics`` cell. Every step reads values of earlier steps,
so the analysis has real work to do.

Measured:

1. ``export_notebook(..., "python")`` in a fresh process, first call (imports included: what
   ``jupyter mlops export`` costs), then warm calls in this process, for each target (``ruff
   format`` of the generated files included when ruff is installed);
2. ``run_pipeline`` on the exported folder: the first run (every step runs), then unchanged
   re-runs (every step skipped), tracking into a temporary store included.

Results go to ``benchmarks/results/pipelines.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
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
RESULTS = os.path.join(HERE, "results", "pipelines.json")
STEPS = 20
EXPORT_TARGET_S = 1.0
RERUN_TARGET_S = 0.5


def make_notebook(path: str) -> int:
    """Write the 200-cell notebook; return its number of cells."""
    import nbformat

    def code(source: str, *tags: str) -> Any:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = list(tags)
        return cell

    nb = nbformat.v4.new_notebook()
    nb.cells += [
        code("import math\nimport statistics\nfrom collections import Counter", "imports"),
        code("size = 50\nfactor = 1.5\nlabel = 'bench'", "pipeline-parameters"),
        code("def scale(xs, by=1.0):\n    return [x * by * factor for x in xs]", "functions"),
    ]
    for i in range(STEPS):
        nb.cells += _step_cells(i, code, nbformat)
    nb.cells.append(code(f"total_{STEPS - 1}", "pipeline-metrics"))
    assert len(nb.cells) == 200, len(nb.cells)
    nbformat.write(nb, path)
    return len(nb.cells)


def _step_cells(i: int, code: Any, nbformat: Any) -> list[Any]:
    prev = f"values_{i - 1}" if i else "list(range(size))"
    cells = [
        nbformat.v4.new_markdown_cell(f"## Step {i}\nWhat step {i} does."),
        code(f"values_{i} = scale({prev}, by=1.01)", f"block:step_{i}"),
        f"counts_{i} = Counter(int(v) % 7 for v in values_{i})",
        f"mean_{i} = statistics.mean(values_{i})\nspread_{i} = max(values_{i}) - min(values_{i})",
        f"table_{i} = {{k: v for k, v in counts_{i}.items() if v > 1}}",
        f"for k in sorted(table_{i}):\n    table_{i}[k] += 1",
        f"names_{i} = [f'{{label}}-{{k}}' for k in table_{i}]",
        "%matplotlib inline" if i % 4 == 1 else f"print(len(names_{i}))",
        f"ratio_{i} = spread_{i} / (mean_{i} or 1)\nroot_{i} = math.sqrt(abs(ratio_{i}))",
        f"total_{i} = sum(values_{i}) + root_{i}" + (f" + total_{i - 1}" if i else ""),
    ]
    if i % 5 == 0:  # 4 steps of 9 cells, 16 of 10, and 4 tagged cells: 200 cells in all
        del cells[7]
    return [c if not isinstance(c, str) else code(c) for c in cells]


def timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def cold_export(notebook: str, folder: str) -> float:
    """``export_notebook`` as the first call of a fresh process (imports included)."""
    script = (
        "import sys, time; t = time.perf_counter();"
        "from jupyter_mlops.pipelines import export_notebook;"
        "export_notebook(sys.argv[1], 'python', sys.argv[2]);"
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run(
        [sys.executable, "-c", script, notebook, folder], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return float(done.stdout.strip().splitlines()[-1])


def bench(repeats: int) -> dict[str, Any]:
    """Run every measurement once; return the numbers."""
    from jupyter_mlops.pipelines import export_notebook, run_pipeline
    from jupyter_mlops.store import set_tracking_uri

    work = tempfile.mkdtemp(prefix="bench-pipelines-")
    notebook = os.path.join(work, "bench.ipynb")
    cells = make_notebook(notebook)
    os.environ["JUPYTER_MLOPS_STORE"] = os.path.join(work, "store")
    set_tracking_uri(os.environ["JUPYTER_MLOPS_STORE"])
    results: dict[str, Any] = {"cells": cells, "steps": STEPS}
    results["export_cold_s"] = cold_export(notebook, os.path.join(work, "cold"))
    for target in ("python", "airflow", "kfp"):
        out = os.path.join(work, target)
        samples = [
            timed(lambda t=target, o=out: export_notebook(notebook, t, o)) for _ in range(repeats)
        ]
        results[f"export_{target}_s"] = statistics.median(samples)
    folder = os.path.join(work, "python")
    results["first_run_s"] = timed(lambda: run_pipeline(folder))
    reruns = []
    for _ in range(repeats):
        started = time.perf_counter()
        run = run_pipeline(folder)
        reruns.append(time.perf_counter() - started)
        assert all(s.cached for s in run.steps), "an unchanged re-run must skip every step"
    results["rerun_all_cached_s"] = statistics.median(reruns)
    results["rerun_max_s"] = max(reruns)
    return results


def report(results: dict[str, Any]) -> bool:
    """Print the table; ``True`` when every target is met."""
    rows = [
        ("export, fresh process (imports included)", results["export_cold_s"], EXPORT_TARGET_S),
        ("export --to python (warm)", results["export_python_s"], EXPORT_TARGET_S),
        ("export --to airflow (warm)", results["export_airflow_s"], EXPORT_TARGET_S),
        ("export --to kfp (warm, not compiled)", results["export_kfp_s"], EXPORT_TARGET_S),
        ("first run, every step runs", results["first_run_s"], None),
        ("unchanged re-run, every step skipped", results["rerun_all_cached_s"], RERUN_TARGET_S),
    ]
    print(f"{results['cells']}-cell notebook, {results['steps']} steps")
    ok = True
    for name, value, target in rows:
        verdict = "" if target is None else ("ok" if value <= target else "MISSED")
        ok &= verdict != "MISSED"
        shown = f"≤ {target:.1f} s" if target else ""
        print(f"  {name:<42} {value * 1000:8.0f} ms  {shown:>8}  {verdict}")
    return ok


def main() -> int:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="warm repetitions (median)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    results = bench(args.repeats)
    ok = report(results)
    results.update(
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        python=platform.python_version(),
        machine=platform.machine(),
        cpus=os.cpu_count(),
        loadavg_start=load_start,
        loadavg_end=os.getloadavg()[0],
    )
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
