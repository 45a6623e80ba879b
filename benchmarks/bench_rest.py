"""REST and side bar benchmark: the runs route and the Experiments section over 10,000 runs.

    PYTHONPATH=. python benchmarks/bench_rest.py                  # about a minute
    PYTHONPATH=. python benchmarks/bench_rest.py --quick          # smoke run (2,000 runs)
    PYTHONPATH=. python benchmarks/bench_rest.py --wait-idle 600  # wait for a quiet machine

What is measured (targets from issue 8, point 5), against a real ``jupyter lab`` on loopback
whose store holds one experiment of 10,000 runs (5 params, 3 metrics each) and a second one of
200 runs:

1. ``GET /jupyter-mlops/api/runs?experiment=big&limit=100``: the first page of runs, its total
   and the metric and param keys, as the side bar asks for it. The first request of a fresh
   server (it reads the store from disk) and the median of 20 more are reported; the target
   (≤ 300 ms) is judged on the median. The same for a filter, a sort by a metric, and the last
   page.
2. The Experiments section's first paint in Chromium: from the click on the MLOps tab of a
   loaded JupyterLab (its pointerdown event in the page) to the first animation frame in which
   run rows are in the DOM (the experiment list, the first page of runs and the table drawn).
   Median of 3 page loads; target ≤ 1 s. The time including Playwright's own click (its
   actionability checks) is recorded beside it. Also recorded: how many row elements exist
   (virtualization: only those in view), and the time to show rows after jumping to the middle
   of the table.
3. Concurrent reads (issue 18, point 7): while 4 clients send the heavy query (filter and sort
   over all runs) without pause, a fifth sends light ones (``GET experiments`` and one run's
   ``GET runs/<id>``); their p50/p99, and the heavy queries answered per second. Once with the
   store calls on one thread, as before (``JUPYTER_MLOPS_READ_THREADS=1``), once with the
   default pool, on fresh servers over the same store.

Results go to ``benchmarks/results/rest.json`` (``rest-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

import browser_fixtures as lab_tools  # noqa: E402 - the tests' JupyterLab and Chromium helpers

TARGETS = {"runs_first_page_ms": 300.0, "experiments_first_paint_ms": 1000.0}
FULL = {"runs": 10_000, "repeats": 20, "paints": 3, "busy_seconds": 20.0}
QUICK = {"runs": 2_000, "repeats": 5, "paints": 1, "busy_seconds": 5.0}
HEAVY = {
    "experiment": "big",
    "filter": "metrics.accuracy > 0.2 and params.model != 'none'",
    "order_by": "metrics.`f1` DESC",
    "limit": "100",
}
SIDEBAR_TAB = '.jp-SideBar [data-id="jupyter-mlops-sidebar"]'

# Before the click: note when the click's pointerdown reaches the page.
ARM_JS = """() => {
  window.__mlopsArmed = performance.now();
  document.addEventListener('pointerdown', () => { window.__mlopsDown = performance.now(); },
                            {capture: true, once: true});
}"""

# After the click (Lumino tabs react to pointer events, so Playwright clicks): wait frame by
# frame until run rows are drawn; time from the pointerdown, and from before Playwright's click.
FIRST_PAINT_JS = """async () => {
  const start = window.__mlopsArmed;
  while (!document.querySelector('#jupyter-mlops-sidebar .jp-mlops-run-row[data-run-id]')) {
    await new Promise(resolve => requestAnimationFrame(resolve));
    if (performance.now() - start > 30000) { return null; }
  }
  await new Promise(resolve => requestAnimationFrame(resolve));
  const end = performance.now();
  const rows = document.querySelectorAll('#jupyter-mlops-sidebar .jp-mlops-run-row').length;
  const count = document.querySelector('#jupyter-mlops-sidebar .jp-mlops-runs-count');
  return {ms: end - (window.__mlopsDown ?? start), with_click_ms: end - start, rows,
          count: count ? count.textContent : null};
}"""

# Jump to the middle of the table; wait until the rows there have their runs.
JUMP_JS = """async () => {
  const table = document.querySelector('#jupyter-mlops-sidebar .jp-mlops-runs');
  const start = performance.now();
  table.scrollTop = table.scrollHeight / 2;
  const ready = () => {
    const rows = [...table.querySelectorAll('.jp-mlops-run-row')];
    const mid = rows[Math.floor(rows.length / 2)];
    return mid && mid.dataset.runId && Number(mid.dataset.index) > 1000;
  };
  while (!ready()) {
    await new Promise(resolve => requestAnimationFrame(resolve));
    if (performance.now() - start > 30000) { return null; }
  }
  return {ms: performance.now() - start, rows: table.querySelectorAll('.jp-mlops-run-row').length};
}"""


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[bench_rest] {message}", file=sys.stderr, flush=True)


# -- data ----------------------------------------------------------------------------------------
def seed(store_dir: Path, runs: int) -> None:
    """``runs`` finished runs in experiment "big" and 200 in "small", in one transaction each."""
    from jupyter_mlops.store import get_store

    store = get_store(str(store_dir))
    rng = random.Random(0)
    now = int(time.time() * 1000)
    for name, count in (("big", runs), ("small", 200)):
        exp = store.get_or_create_experiment(name)

        def write(txn: Any, exp_id: str = exp["experiment_id"], count: int = count) -> None:
            for i in range(count):
                run_id = uuid.uuid4().hex
                metrics = {
                    key: {"last": rng.random(), "min": 0.0, "max": 1.0, "step": 99, "count": 100}
                    for key in ("accuracy", "f1", "val_loss")
                }
                txn.put(
                    "runs",
                    run_id,
                    {
                        "run_id": run_id,
                        "run_name": f"run-{i:05d}",
                        "experiment_id": exp_id,
                        "status": "FINISHED",
                        "start_time": now - i * 1000,
                        "end_time": now - i * 1000 + rng.randint(500, 60_000),
                        "parent_run_id": None,
                        "params": {
                            "model": rng.choice(["rf", "gbm", "logreg"]),
                            "max_depth": str(rng.randint(2, 12)),
                            "lr": f"{rng.uniform(0.001, 0.3):.4f}",
                            "n_estimators": str(rng.choice([100, 200, 400])),
                            "seed": str(i),
                        },
                        "metrics": metrics,
                        "tags": {"mlops.user": "bench", "mlops.source.name": "train.ipynb"},
                        "datasets": [],
                        "artifacts": {},
                    },
                )

        store.transact(write)


# -- the server ----------------------------------------------------------------------------------
def start_lab(tmp: Path) -> tuple[lab_tools.LabServer, subprocess.Popen]:
    """``jupyter lab`` on loopback over the store in ``tmp``, as the browser tests start it."""
    root, store, log_file = lab_tools._prepare_lab(tmp)
    port = lab_tools._free_port()
    lab = lab_tools.LabServer(
        f"http://127.0.0.1:{port}/", secrets.token_hex(16), root, store, log_file
    )
    env = {
        **os.environ,
        "JUPYTER_MLOPS_STORE": str(store),
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={lab.token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]
    with log_file.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        lab_tools._wait_until_ready(lab, process)
    except BaseException:
        lab_tools._stop_group(process)
        raise
    return lab, process


def get_ms(lab: lab_tools.LabServer, route: str, params: dict[str, str]) -> tuple[float, dict]:
    """Milliseconds for one authenticated GET of ``route``, and its JSON."""
    url = f"{lab.url}jupyter-mlops/api/{route}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"token {lab.token}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, json.loads(body)


def bench_rest(lab: lab_tools.LabServer, runs: int, repeats: int) -> dict[str, Any]:
    """Cold and warm times of the runs route for four queries."""
    cases = {
        "first_page": {"experiment": "big", "limit": "100"},
        "filtered": {
            "experiment": "big",
            "filter": "metrics.accuracy > 0.5 and params.model = 'rf'",
            "limit": "100",
        },
        "sorted_by_metric": {"experiment": "big", "order_by": "metrics.`f1` DESC", "limit": "100"},
        "last_page": {"experiment": "big", "limit": "100", "offset": str(runs - 100)},
    }
    results: dict[str, Any] = {}
    for name, params in cases.items():
        cold, body = get_ms(lab, "runs", params)
        warm = [get_ms(lab, "runs", params)[0] for _ in range(repeats)]
        results[name] = {
            "first_ms": round(cold, 1),
            "median_ms": round(statistics.median(warm), 1),
            "p90_ms": round(sorted(warm)[int(0.9 * (len(warm) - 1))], 1),
            "rows": len(body["runs"]),
            "total": body["total"],
            "bytes": len(json.dumps(body)),
        }
        log(f"GET runs {name}: {results[name]}")
    assert results["first_page"]["total"] == runs
    return results


def bench_paint(lab: lab_tools.LabServer, paints: int) -> dict[str, Any]:
    """First paint of the Experiments section in Chromium, over fresh page loads."""
    from playwright.sync_api import sync_playwright

    samples, jumps = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=lab_tools.CHROMIUM, args=lab_tools.CHROMIUM_FLAGS
        )
        try:
            for _ in range(paints):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(lab.page_url(), wait_until="domcontentloaded")
                page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
                page.locator(SIDEBAR_TAB).wait_for(timeout=30_000)
                page.wait_for_timeout(1000)  # let JupyterLab settle (kernelspecs, sessions...)
                tab = page.locator(SIDEBAR_TAB)
                page.evaluate(ARM_JS)
                tab.click()
                sample = page.evaluate(FIRST_PAINT_JS)
                if sample is None:
                    raise RuntimeError("no run row appeared within 30 s")
                samples.append(sample)
                jump = page.evaluate(JUMP_JS)
                jumps.append(jump)
                log(f"first paint {sample}, jump to the middle {jump}")
                context.close()
        finally:
            browser.close()
    return {
        "median_ms": round(statistics.median(s["ms"] for s in samples), 1),
        "samples_ms": [round(s["ms"], 1) for s in samples],
        "with_playwright_click_ms": [round(s["with_click_ms"], 1) for s in samples],
        "row_elements": samples[-1]["rows"],
        "count_shown": samples[-1]["count"],
        "jump_to_middle_ms": [round(j["ms"], 1) for j in jumps if j],
    }


# -- concurrent reads ----------------------------------------------------------------------------
def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
    }


def busy_reads(lab: lab_tools.LabServer, seconds: float) -> dict[str, Any]:
    """Light requests' latency while 4 threads send the heavy query without pause."""
    stop = threading.Event()
    heavy: list[float] = []
    run_id = get_ms(lab, "runs", {"experiment": "small", "limit": "1"})[1]["runs"][0]["run_id"]

    def hammer() -> None:
        while not stop.is_set():
            heavy.append(get_ms(lab, "runs", HEAVY)[0])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    light: list[float] = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        light.append(get_ms(lab, "experiments", {})[0])
        light.append(get_ms(lab, f"runs/{run_id}", {})[0])
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    return {
        "light": _percentiles(light),
        "heavy": _percentiles(heavy),
        "heavy_per_s": round(len(heavy) / elapsed, 2),
    }


def bench_concurrency(tmp: Path, seconds: float) -> dict[str, Any]:
    """:func:`busy_reads` on one store thread (before) and on the reader pool (after)."""
    results = {}
    for name, threads in (("one_store_thread", "1"), ("reader_pool", None)):
        lab_tmp = tmp / f"lab-{name}"
        lab_tmp.mkdir()
        (lab_tmp / "store").symlink_to(tmp / "store", target_is_directory=True)
        saved = os.environ.pop("JUPYTER_MLOPS_READ_THREADS", None)
        if threads:
            os.environ["JUPYTER_MLOPS_READ_THREADS"] = threads
        try:
            lab, process = start_lab(lab_tmp)
        finally:
            os.environ.pop("JUPYTER_MLOPS_READ_THREADS", None)
            if saved is not None:
                os.environ["JUPYTER_MLOPS_READ_THREADS"] = saved
        try:
            time.sleep(3.0)  # the extension's warm-up read
            get_ms(lab, "runs", HEAVY)
            results[name] = busy_reads(lab, seconds)
            log(f"busy reads, {name}: {results[name]}")
        finally:
            lab_tools._stop_group(process)
    return results


# -- main -----------------------------------------------------------------------------------------
def wait_idle(seconds: float, max_load: float) -> None:
    """Wait (at most ``seconds``) until the 1-minute load average drops below ``max_load``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and os.getloadavg()[0] >= max_load:
        log(f"load average {os.getloadavg()[0]:.2f} ≥ {max_load}: waiting")
        time.sleep(15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 runs, fewer repeats")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--no-browser", action="store_true", help="skip the first paint (2.)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.wait_idle:
        wait_idle(args.wait_idle, args.max_load)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as folder:
        tmp = Path(folder)
        log(f"seeding {sizes['runs']:,} runs")
        seed(tmp / "store", sizes["runs"])
        lab, process = start_lab(tmp)
        try:
            rest = bench_rest(lab, sizes["runs"], sizes["repeats"])
            paint = bench_paint(lab, sizes["paints"]) if not args.no_browser else None
        finally:
            lab_tools._stop_group(process)
        concurrency = bench_concurrency(tmp, sizes["busy_seconds"])
    measured = {
        "runs_first_page_ms": rest["first_page"]["median_ms"],
        "experiments_first_paint_ms": paint["median_ms"] if paint else float("nan"),
    }
    result = {
        "sizes": sizes,
        "rest": rest,
        "paint": paint,
        "concurrency": concurrency,
        "targets": TARGETS,
        "passed": {k: measured[k] <= TARGETS[k] for k in TARGETS},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_start": round(load_start, 2),
            "load_average_end": round(os.getloadavg()[0], 2),
        },
    }
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    out = results_dir / ("rest-quick.json" if args.quick else "rest.json")
    out.write_text(json.dumps(result, indent=2))
    print(f"{'measurement':<44} {'value':>10} {'target':>10}  result")
    for key, target in TARGETS.items():
        verdict = "ok" if result["passed"][key] else "MISSED"
        print(f"{key:<44} {measured[key]:>8.0f}ms {target:>8.0f}ms  {verdict}")
    if paint:
        print(f"row elements in the DOM for {sizes['runs']:,} runs: {paint['row_elements']}")
    for name, busy in concurrency.items():
        print(f"light requests under load, {name}: {busy['light']}; heavy {busy['heavy_per_s']}/s")
    print(f"results: {out.relative_to(REPO)}")
    return 1 if args.strict and not all(result["passed"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
