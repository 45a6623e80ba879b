"""TensorBoard benchmark: SummaryWriter capture vs plain TensorBoard writing, system metrics' cost.

    PYTHONPATH=. python benchmarks/bench_tensorboard.py           # full run (3-6 minutes)
    PYTHONPATH=. python benchmarks/bench_tensorboard.py --quick   # smoke run (about a minute)

What is measured, each in fresh subprocesses, the variants interleaved round by round so they see
the same machine load (medians over the rounds):

1. **Capture**: a 10,000-step ``SummaryWriter.add_scalar`` loop, writer closed at the end.
   ``plain``: torch's SummaryWriter, jupyter_mlops never imported. ``captured``: the same loop
   inside ``start_run`` (every call also logs a metric point), including the final flush of those
   points into the store. ``outside``: patched, but no active run. Goal: captured ≤ 1.5 × plain.
2. **System metrics**: a CPU training loop (an MLP on scikit-learn's digits, ``torch`` with one
   thread) cut into chunks of about a second, in one process, alternately without and with the
   sampler running (started before the chunk, stopped after it: each "with" chunk pays at least
   one sample, five times the default rate). Goal: ≤ 1% slower. The cost of one sample is
   measured too (mean of 200 samples), with the share of time it takes at the default interval.
3. **Export / import**: 100,000 points of one run written as an event file by
   ``export_runs`` vs by torch's ``SummaryWriter``; reading them back with ``import_logdir`` vs
   TensorBoard's ``EventAccumulator`` alone.

Results go to ``benchmarks/results/tensorboard.json`` (``tensorboard-quick.json``).
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
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

CAPTURE = textwrap.dedent(
    """\
    import json, os, sys, time
    mode, steps, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.environ["JUPYTER_MLOPS_STORE"] = os.path.join(folder, "store")
    from torch.utils.tensorboard import SummaryWriter
    if mode != "plain":
        import jupyter_mlops as mlops
        from jupyter_mlops.tracking import autolog_tensorboard
        autolog_tensorboard.watch()  # patched in both modes
        run = mlops.start_run(name="bench") if mode == "captured" else None
    writer = SummaryWriter(os.path.join(folder, "tb"))
    started, cpu = time.perf_counter(), time.process_time()
    for step in range(steps):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.close()
    if mode == "captured":
        mlops.flush()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if mode == "captured":
        mlops.end_run()
        assert len(mlops.get_metric_history(run.id, "loss")) == steps
    print(json.dumps({"seconds": seconds, "cpu": cpu}))
    """
)

TRAINING = textwrap.dedent(
    """\
    import json, os, statistics, sys, time
    pairs, folder = int(sys.argv[1]), sys.argv[2]
    os.environ["JUPYTER_MLOPS_STORE"] = os.path.join(folder, "store")
    import torch
    from torch import nn
    from sklearn.datasets import load_digits
    import jupyter_mlops as mlops
    from jupyter_mlops.tracking import system_metrics
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X / 16, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()

    def chunk():  # a few epochs, about a second
        started, cpu = time.perf_counter(), time.process_time()
        for epoch in range(60):
            for i in range(0, len(X), 32):
                opt.zero_grad()
                loss_fn(model(X[i:i + 32]), y[i:i + 32]).backward()
                opt.step()
        return time.perf_counter() - started, time.process_time() - cpu

    off, on = [], []
    with mlops.start_run(name="train") as run:
        chunk()  # warm up
        for _ in range(pairs):  # interleaved: both see the same machine load
            off.append(chunk())
            system_metrics.start(run.id)  # sampling thread on for the next chunk
            on.append(chunk())
            system_metrics.stop([run.id])  # includes one last sample: one per chunk at least
    samples = len(mlops.get_metric_history(run.id, "system/cpu_utilization_percentage"))
    print(json.dumps({
        "off_s": statistics.median(w for w, _ in off), "on_s": statistics.median(w for w, _ in on),
        "off_cpu_s": statistics.median(c for _, c in off),
        "on_cpu_s": statistics.median(c for _, c in on), "samples": samples, "pairs": pairs,
    }))
    """
)

SAMPLE = textwrap.dedent(
    """\
    import json, os, sys, time
    os.environ["JUPYTER_MLOPS_STORE"] = os.path.join(sys.argv[1], "store")
    import jupyter_mlops as mlops
    from jupyter_mlops.tracking.system_metrics import SAMPLE_INTERVAL_S, SystemMetricsMonitor
    with mlops.start_run(name="s") as run:
        monitor = SystemMetricsMonitor(run.id)
        n = 200
        started = time.perf_counter()
        for _ in range(n):
            monitor._log_sample()
        per_sample = (time.perf_counter() - started) / n
    print(json.dumps({"per_sample_s": per_sample, "interval_s": SAMPLE_INTERVAL_S}))
    """
)

EXPORT = textwrap.dedent(
    """\
    import json, os, sys, time
    points, folder = int(sys.argv[1]), sys.argv[2]
    os.environ["JUPYTER_MLOPS_STORE"] = os.path.join(folder, "store")
    import jupyter_mlops as mlops
    from jupyter_mlops.store import get_store
    from jupyter_mlops.tensorboard import export_runs, import_logdir
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter
    with mlops.start_run(name="big", experiment="bench") as run:
        pass
    now = int(time.time() * 1000)
    batch = [("loss", 1 / (i + 1), i, now + i) for i in range(points)]
    get_store().log_metric_points(run.id, batch)
    out = {}
    t = time.perf_counter(); result = export_runs(os.path.join(folder, "ours"))
    out["export"] = time.perf_counter() - t
    writer = SummaryWriter(os.path.join(folder, "theirs"))
    t = time.perf_counter()
    for i in range(points):
        writer.add_scalar("loss", 1 / (i + 1), i, walltime=(now + i) / 1000)
    writer.close(); out["summary_writer"] = time.perf_counter() - t
    t = time.perf_counter()
    acc = EventAccumulator(os.path.dirname(result.runs[0].path), size_guidance={"scalars": 0})
    acc.Reload(); assert len(acc.Scalars("loss")) == points
    out["event_accumulator"] = time.perf_counter() - t
    t = time.perf_counter(); imported = import_logdir(os.path.join(folder, "ours"), "copy")
    out["import"] = time.perf_counter() - t
    assert imported.runs[0].points == points
    print(json.dumps(out))
    """
)


def run_script(script: str, *args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-tb-") as folder:
        done = subprocess.run(
            [sys.executable, "-c", script, *map(str, args), folder],
            capture_output=True, text=True, timeout=1800,
            env={**os.environ, "PYTHONPATH": REPO, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved(script: str, variants: list[list[Any]], rounds: int) -> list[list[dict[str, Any]]]:
    results: list[list[dict[str, Any]]] = [[] for _ in variants]
    for _ in range(rounds):
        for i, args in enumerate(variants):
            results[i].append(run_script(script, *args))
    return results


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    steps = 10_000
    pairs = 6 if args.quick else 40
    points = 20_000 if args.quick else 100_000

    plain, captured, outside = interleaved(
        CAPTURE, [["plain", steps], ["captured", steps], ["outside", steps]], rounds
    )
    capture = {
        "plain_s": median(plain, "seconds"),
        "captured_s": median(captured, "seconds"),
        "outside_s": median(outside, "seconds"),
    }
    capture["ratio"] = capture["captured_s"] / capture["plain_s"]
    capture["plain_cpu_s"] = median(plain, "cpu")
    capture["captured_cpu_s"] = median(captured, "cpu")
    capture["cpu_ratio"] = capture["captured_cpu_s"] / capture["plain_cpu_s"]
    capture["outside_ratio"] = capture["outside_s"] / capture["plain_s"]

    system = run_script(TRAINING, pairs)
    sample = run_script(SAMPLE)
    system["per_sample_ms"] = sample["per_sample_s"] * 1000
    system["interval_s"] = sample["interval_s"]
    system["wall_ratio"] = system["on_s"] / system["off_s"]
    system["cpu_ratio"] = system["on_cpu_s"] / system["off_cpu_s"]
    system["sample_share"] = sample["per_sample_s"] / sample["interval_s"]

    export = run_script(EXPORT, points)
    export["points"] = points
    report = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
        },
        "rounds": rounds,
        "capture": capture,
        "system_metrics": system,
        "export_import": export,
    }
    print_table(report)
    os.makedirs(RESULTS, exist_ok=True)
    name = "tensorboard-quick.json" if args.quick else "tensorboard.json"
    with open(os.path.join(RESULTS, name), "w") as fh:
        json.dump(report, fh, indent=2)
    return 0


def print_table(report: dict[str, Any]) -> None:
    c, s, e = report["capture"], report["system_metrics"], report["export_import"]
    rows = [
        ("add_scalar x10,000, plain TensorBoard", f"{c['plain_s']:.3f} s", ""),
        ("  captured into the run (+ flush)", f"{c['captured_s']:.3f} s",
         f"{c['ratio']:.2f}x (goal <= 1.5x)"),
        ("  captured, CPU time", f"{c['captured_cpu_s']:.3f} s",
         f"{c['cpu_ratio']:.2f}x of plain's {c['plain_cpu_s']:.3f} s"),
        ("  patched, no active run", f"{c['outside_s']:.3f} s", f"{c['outside_ratio']:.2f}x"),
        ("training chunk (median), no system metrics", f"{s['off_s']:.3f} s", ""),
        ("  with system metrics (wall)", f"{s['on_s']:.3f} s",
         f"{(s['wall_ratio'] - 1) * 100:+.2f}% (goal <= 1%)"),
        ("  with system metrics (CPU)", f"{s['on_cpu_s']:.3f} s",
         f"{(s['cpu_ratio'] - 1) * 100:+.2f}%"),
        ("  one sample", f"{s['per_sample_ms']:.2f} ms",
         f"{s['sample_share'] * 100:.3f}% of every {s['interval_s']:.0f} s"),
        (f"export {e['points']:,} points", f"{e['export']:.2f} s",
         f"SummaryWriter {e['summary_writer']:.2f} s"),
        (f"import {e['points']:,} points", f"{e['import']:.2f} s",
         f"EventAccumulator alone {e['event_accumulator']:.2f} s"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    print(f"load average {report['machine']['load']}, {report['rounds']} rounds")


if __name__ == "__main__":
    sys.exit(main())
