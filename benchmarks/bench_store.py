"""Store benchmark: the schema-2 store (this tree) side by side with the schema-1 store before it.

    PYTHONPATH=. python benchmarks/bench_store.py            # full run (5-10 minutes)
    PYTHONPATH=. python benchmarks/bench_store.py --quick    # smoke run (about a minute)

The baseline is jupyter_mlops at commit ``5602d6b`` (the last schema-1 store), extracted with
``git archive`` into a temporary folder. Every measurement runs in a fresh subprocess with one
tree or the other first on ``PYTHONPATH``, on a fresh temporary store, and the two trees
alternate (old, new, old, new...) so both see the same machine load; medians are reported with
the ratio new/old (1.00 = as fast; below 1 is faster). Measured, each with the embedded store's
own API (what the tracking buffer, the registry and the server call):

1. ``log_metric_points`` with batches of 1,000 points (one commit each: the buffer's flush);
2. a small commit (``set_tags``), the cost of every param, tag and status write;
3. a run's life: ``create_run``, ``log_params``, ``log_metric_points`` (5 points), ``update_run``;
4. ``get_metric_history`` of a 1,000-point run, log changed in between (no cache hit);
5. opening a store of N runs (snapshot + a journal) and listing them, in a fresh process;
6. ``search_runs`` with a two-clause filter over those N runs (the tracking search, same code).

Then, for this tree alone, on a big store (N runs with 100 points each, one artifact in 10):
``jupyter mlops store check`` with and without re-hashing artifacts, ``store repair``, and the
migration of the same store built by the old tree (its first writable open). JSON results go to
``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BASELINE = "5602d6b"
FULL = {"runs": 10_000, "rounds": 5, "batches": 60, "commits": 2000, "lives": 300}
QUICK = {"runs": 1_500, "rounds": 3, "batches": 20, "commits": 500, "lives": 100}

WORKER = textwrap.dedent(
    """
    import json, os, statistics, sys, time, uuid
    from jupyter_mlops.store.embedded import EmbeddedStore
    task, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def run_doc(store, i):
        exp = store.get_or_create_experiment("bench")
        return {"run_id": uuid.uuid4().hex, "run_name": f"r{i}", "experiment_id":
                exp["experiment_id"], "status": "RUNNING", "start_time": i, "params": {},
                "metrics": {}, "tags": {}}

    def timed(fn, n):
        out = []
        for i in range(n):
            t = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    def build(store, n, points=5, every=0, blob=None):
        for i in range(n):
            doc = run_doc(store, i)
            store.create_run(doc)
            store.log_params(doc["run_id"], {"model": "rf" if i % 3 else "gbm", "i": str(i)})
            store.log_metric_points(doc["run_id"], [("acc", (i % 100) / 100, s, s)
                                                    for s in range(points)])
            if every and i % every == 0:
                with open(blob, "wb") as fh:
                    fh.write(os.urandom(20_000))
                store.put_artifact(doc["run_id"], "model.bin", blob)
            store.update_run(doc["run_id"], status="FINISHED")

    if task == "log":
        store = EmbeddedStore.open(root)
        doc = run_doc(store, 0)
        store.create_run(doc)
        batch = lambda i: [("loss", 1 / (i + 1), i * 1000 + s, 0) for s in range(1000)]
        print(json.dumps(timed(lambda i: store.log_metric_points(doc["run_id"], batch(i)), n)))
    elif task == "commit":
        store = EmbeddedStore.open(root)
        doc = run_doc(store, 0)
        store.create_run(doc)
        print(json.dumps(timed(lambda i: store.set_tags(doc["run_id"], {f"t{i}": "v"}), n)))
    elif task == "life":
        store = EmbeddedStore.open(root)
        build(store, 20)
        print(json.dumps(timed(lambda i: build(store, 1), n)))
    elif task == "history":
        store = EmbeddedStore.open(root)
        doc = run_doc(store, 0)
        store.create_run(doc)
        store.log_metric_points(doc["run_id"], [("m", 0.5, s, s) for s in range(1000)])
        def read(i):
            store.log_metric_points(doc["run_id"], [("x", 0.5, i, i)])
            store.get_metric_history(doc["run_id"], "m")
        print(json.dumps(timed(read, n)))
    elif task == "build":
        build(EmbeddedStore.open(root), n, points=int(sys.argv[4]), every=int(sys.argv[5]),
              blob=os.path.join(root, "..", "blob.bin"))
        print("null")
    elif task == "open":
        t = time.perf_counter()
        store = EmbeddedStore.open(root)
        runs = store.list_runs()
        print(json.dumps(time.perf_counter() - t))
        assert len(runs) == n, len(runs)
    elif task == "search":
        import jupyter_mlops as mlops
        mlops.set_tracking_uri(root)
        mlops.search_runs("bench", filter="metrics.acc > 0.5 and params.model = 'rf'")
        def search(i):
            mlops.get_store().set_tags(mlops.get_store().list_runs()[0]["run_id"], {"s": str(i)})
            mlops.search_runs("bench", filter="metrics.acc > 0.5 and params.model = 'rf'")
        print(json.dumps(timed(search, 5)))
    """
)


def log(message: str) -> None:
    print(f"[bench_store] {message}", file=sys.stderr, flush=True)


def baseline_tree(folder: str) -> str:
    """jupyter_mlops at the baseline commit, extracted into ``folder``."""
    archive = subprocess.run(
        ["git", "-C", REPO, "archive", BASELINE, "jupyter_mlops"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def work(tree: str, task: str, root: str, *args: object) -> object:
    env = {**os.environ, "PYTHONPATH": tree, "JUPYTER_MLOPS_FSYNC": "0"}
    env.pop("JUPYTER_MLOPS_COMPACT_BYTES", None)
    done = subprocess.run(
        [sys.executable, "-c", WORKER, task, root, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{task} on {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def side_by_side(trees: dict[str, str], scratch: str, cfg: dict) -> dict[str, dict[str, float]]:
    """Medians per tree of tasks 1-6 (rounds alternate the trees)."""
    samples: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    big = {}
    for name, tree in trees.items():  # the N-run stores, built once by each tree
        big[name] = os.path.join(scratch, f"big-{name}", "store")
        os.makedirs(big[name])
        log(f"building {cfg['runs']} runs with the {name} tree")
        work(tree, "build", big[name], cfg["runs"], 5, 0)
    for r in range(cfg["rounds"]):
        for name, tree in trees.items():
            log(f"round {r + 1}/{cfg['rounds']}: {name}")
            got = samples[name]
            for task, n in (
                ("log", cfg["batches"]),
                ("commit", cfg["commits"]),
                ("life", cfg["lives"]),
                ("history", 50),
            ):
                root = tempfile.mkdtemp(dir=scratch)
                got.setdefault(task, []).append(work(tree, task, root, n))  # type: ignore[arg-type]
                shutil.rmtree(root)
            got.setdefault("open", []).append(work(tree, "open", big[name], cfg["runs"]))  # type: ignore[arg-type]
            got.setdefault("search", []).append(work(tree, "search", big[name], 0))  # type: ignore[arg-type]
    return {t: {k: statistics.median(v) for k, v in s.items()} for t, s in samples.items()}


def check_and_repair(trees: dict[str, str], scratch: str, cfg: dict) -> dict[str, float]:
    """Costs of check, repair and migration on a big store (this tree)."""
    sys.path.insert(0, REPO)
    from jupyter_mlops.store.check import check_store
    from jupyter_mlops.store.repair import repair_store

    out: dict[str, float] = {}
    old = os.path.join(scratch, "check-old", "store")
    os.makedirs(old)
    log(f"building {cfg['runs']} runs x 100 points, an artifact in 10, with the old tree")
    work(trees["old"], "build", old, cfg["runs"], 100, 10)
    out["store_mb"] = _size(old) / 1e6
    t = time.perf_counter()
    work(trees["new"], "open", old, cfg["runs"])  # the first writable open migrates
    out["migrate_s"] = time.perf_counter() - t
    for label, hashes in (("check_s", True), ("check_no_hashes_s", False)):
        t = time.perf_counter()
        report = check_store(old, hashes=hashes)
        out[label] = time.perf_counter() - t
        assert report.ok, report.lines()[:5]
    t = time.perf_counter()
    repaired = repair_store(old)
    out["repair_s"] = time.perf_counter() - t
    assert not repaired.lost
    return out


def _size(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


LABELS = {
    "log": ("log_metric_points, 1,000 points per commit", "ms", 1e3),
    "commit": ("a small commit (set_tags)", "us", 1e6),
    "life": ("a run's life (create, params, 5 points, end)", "ms", 1e3),
    "history": ("get_metric_history, 1,000 points", "ms", 1e3),
    "open": ("open a store of N runs and list them", "ms", 1e3),
    "search": ("search_runs, two-clause filter, N runs", "ms", 1e3),
}


def table(medians: dict[str, dict[str, float]], runs: int) -> str:
    lines = [
        "| operation | schema 1 (before) | schema 2 (this tree) | new/old |",
        "|---|---|---|---|",
    ]
    for task, (label, unit, scale) in LABELS.items():
        old, new = medians["old"][task], medians["new"][task]
        lines.append(
            f"| {label.replace('N runs', f'{runs:,} runs')} | {old * scale:.3g} {unit} "
            f"| {new * scale:.3g} {unit} | {new / old:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--out", help="JSON results (default benchmarks/results/store.json)")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    scratch = tempfile.mkdtemp(prefix="bench-store-")
    try:
        trees = {"old": baseline_tree(tempfile.mkdtemp(dir=scratch)), "new": REPO}
        load = os.getloadavg()[0]
        medians = side_by_side(trees, scratch, cfg)
        costs = check_and_repair(trees, scratch, cfg)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(table(medians, cfg["runs"]))
    print(
        f"\nbig store ({cfg['runs']:,} runs x 100 points, {cfg['runs'] // 10:,} artifacts of "
        f"20 kB, {costs['store_mb']:.0f} MB): migrate {costs['migrate_s']:.1f} s, check "
        f"{costs['check_s']:.1f} s ({costs['check_no_hashes_s']:.1f} s without re-hashing), "
        f"repair {costs['repair_s']:.1f} s"
    )
    result = {
        "config": cfg,
        "baseline": BASELINE,
        "medians_s": medians,
        "big_store": costs,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_at_start": load,
            "load_at_end": os.getloadavg()[0],
        },
    }
    out = args.out or os.path.join(
        HERE, "results", "store-quick.json" if args.quick else "store.json"
    )
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
