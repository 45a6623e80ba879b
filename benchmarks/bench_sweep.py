"""Sweep benchmark: ``mlops.sweep`` side by side with Optuna's bare ``study.optimize``.

    PYTHONPATH=. python benchmarks/bench_sweep.py               # both measurements
    PYTHONPATH=. python benchmarks/bench_sweep.py --repeats 5   # more repeats of the overhead

1. Overhead per trial: the same cheap objective, ``(x - 2) ** 2`` over ``uniform(0, 4)``, for 100
   trials, with the same sampler (random, seeded: TPE's own cost would hide ours; TPE is measured
   too). Optuna bare: ``optuna.create_study()`` in memory, ``study.optimize(objective, 100)``.
   Optuna journal: the same on the journal file our sweeps use (so storage and bookkeeping can be
   told apart). jupyter_mlops: ``mlops.sweep(...)`` on a fresh embedded store in a temporary
   folder (a parent run, 100 child runs with params, the metric, duration, state tags; the study
   in the store's journal). Each repeat runs in a fresh process (imports warm: one untimed sweep
   first), the tools alternating; the median per tool is reported. Goal: at most 5 ms per trial
   more than Optuna bare.
2. Parallel speed-up: a 40-trial sweep of a scikit-learn ``RandomForestClassifier``
   (``n_estimators`` in ``int(20, 80)``, ``max_depth`` in ``int(3, 12)``, ``n_jobs=1``) on
   ``make_classification(4000, 20)``, ``--jobs 1`` against ``--jobs 2``, random sampler, seeded,
   fresh store each, alternating ``--jobs 1`` and ``--jobs 2`` (medians of ``--parallel-repeats``).
   Goal: at least 1.7x faster at ``--jobs 2`` on two cores.

The load average and the machine are recorded with the results in
``benchmarks/results/sweep.json``.
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
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "sweep.json")
TRIALS = 100

OVERHEAD = textwrap.dedent(
    """
    import json, os, sys, tempfile, time
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tool, sampler_name, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def sampler():
        if sampler_name == "tpe":
            return optuna.samplers.TPESampler(seed=0)
        return optuna.samplers.RandomSampler(seed=0)

    def bare(storage=None, name="b"):
        study = optuna.create_study(sampler=sampler(), storage=storage, study_name=name)
        study.optimize(lambda t: (t.suggest_float("x", 0, 4) - 2) ** 2, n_trials=trials)

    def journal(name):
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
        path = os.path.join(tempfile.mkdtemp(), "j.log")
        storage = optuna.storages.JournalStorage(
            JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
        bare(storage, name)

    def ours(name):
        import jupyter_mlops as mlops
        mlops.set_tracking_uri(tempfile.mkdtemp())
        mlops.sweep(lambda p: (p["x"] - 2) ** 2, {"x": "uniform(0, 4)"}, name=name,
                    trials=trials, metric="m", sampler=sampler_name, pruner="none", seed=0)

    run = {"bare": lambda n: bare(None, n), "journal": journal, "ours": ours}[tool]
    run("warm")  # imports, first-use caches
    started, cpu = time.perf_counter(), time.process_time()
    run("timed")
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
    """
)

PARALLEL = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time
    import jupyter_mlops as mlops
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    jobs = int(sys.argv[1])
    X, y = make_classification(4000, 20, n_informative=8, random_state=0)
    X_train, X_val, y_train, y_val = X[:3000], X[3000:], y[:3000], y[3000:]

    def objective(p):
        model = RandomForestClassifier(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                                       random_state=0, n_jobs=1).fit(X_train, y_train)
        return model.score(X_val, y_val)

    mlops.set_tracking_uri(tempfile.mkdtemp())
    started = time.perf_counter()
    result = mlops.sweep(objective, {"n_estimators": "int(20, 80)", "max_depth": "int(3, 12)"},
                         name="rf", trials=40, metric="accuracy", direction="maximize",
                         sampler="random", pruner="none", jobs=jobs, seed=0)
    wall = time.perf_counter() - started
    used = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in used)
    print(json.dumps({"seconds": wall, "cpu": cpu, "ran": result.ran}))
    """
)


def run_script(script: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def overhead(repeats: int) -> dict:
    out: dict = {}
    for sampler in ("random", "tpe"):
        wall: dict[str, list[float]] = {"bare": [], "journal": [], "ours": []}
        cpu: dict[str, list[float]] = {"bare": [], "journal": [], "ours": []}
        for _ in range(repeats):
            for tool in wall:  # alternating, so load changes hit every tool alike
                measured = run_script(OVERHEAD, tool, sampler, str(TRIALS))
                wall[tool].append(measured["seconds"])
                cpu[tool].append(measured["cpu"])
        ms = {t: 1000 * statistics.median(v) / TRIALS for t, v in wall.items()}
        cpu_ms = {t: 1000 * statistics.median(v) / TRIALS for t, v in cpu.items()}
        out[sampler] = {
            "seconds": wall,
            "cpu_seconds": cpu,
            "ms_per_trial": ms,
            "cpu_ms_per_trial": cpu_ms,
            "overhead_ms_per_trial": ms["ours"] - ms["bare"],
            "cpu_overhead_ms_per_trial": cpu_ms["ours"] - cpu_ms["bare"],
            "ratio_vs_bare": ms["ours"] / ms["bare"],
        }
    return out


def parallel(repeats: int) -> dict:
    times: dict[str, list[float]] = {"1": [], "2": []}
    cpu: dict[str, list[float]] = {"1": [], "2": []}
    loads = []
    for _ in range(repeats):  # alternating, so a change of load hits both alike
        for jobs in times:
            loads.append(os.getloadavg()[0])
            measured = run_script(PARALLEL, jobs)
            times[jobs].append(measured["seconds"])
            cpu[jobs].append(measured["cpu"])
    one, two = statistics.median(times["1"]), statistics.median(times["2"])
    cores = {
        j: statistics.median(c / w for c, w in zip(cpu[j], times[j], strict=True)) for j in cpu
    }
    return {"jobs1_s": one, "jobs2_s": two, "speedup": one / two, "seconds": times,
            "cpu_seconds": cpu, "cores_used": cores, "load_1min_at_starts": loads}  # fmt: skip


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parallel-repeats", type=int, default=2)
    parser.add_argument("--only", choices=("overhead", "parallel"))
    args = parser.parse_args()
    import optuna

    results: dict = {"machine": machine(), "optuna": optuna.__version__}
    if args.only != "parallel":
        results["overhead"] = overhead(args.repeats)
    if args.only != "overhead":
        results["parallel"] = parallel(args.parallel_repeats)
    results["machine"]["load_after"] = os.getloadavg()
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as fh:
        json.dump(results, fh, indent=2)
    report(results)


def report(results: dict) -> None:
    print(f"load {results['machine']['load_before']} -> {results['machine']['load_after']}")
    for sampler, r in results.get("overhead", {}).items():
        ms, cpu = r["ms_per_trial"], r["cpu_ms_per_trial"]
        print(
            f"{sampler:6} ms/trial wall (cpu): optuna bare {ms['bare']:.2f} ({cpu['bare']:.2f}) · "
            f"optuna journal {ms['journal']:.2f} ({cpu['journal']:.2f}) · jupyter_mlops "
            f"{ms['ours']:.2f} ({cpu['ours']:.2f}) · overhead {r['overhead_ms_per_trial']:.2f} "
            f"({r['cpu_overhead_ms_per_trial']:.2f}) ms/trial (goal <= 5)"
        )
    if "parallel" in results:
        p = results["parallel"]
        cores = p["cores_used"]
        print(
            f"40-trial random forest sweep: --jobs 1 {p['jobs1_s']:.1f} s ({cores['1']:.2f} cores) "
            f"· --jobs 2 {p['jobs2_s']:.1f} s ({cores['2']:.2f} cores) · speed-up "
            f"x{p['speedup']:.2f} (goal >= 1.7)"
        )


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
