"""Scripts the sweep tests run as real processes (``python -c``), and how to wait on the store.

Each script sweeps a small objective into the store named by ``JUPYTER_MLOPS_STORE``; the
tests interrupt, kill, resume and parallelise them from outside.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from jupyter_mlops.store.embedded import EmbeddedStore

SLOW_SWEEP = textwrap.dedent(
    """
    import os, sys, time
    import jupyter_mlops as mlops

    def objective(params):
        for step in range(4):
            mlops.log_metric("loss", (params["x"] - 1) ** 2 + 1 / (step + 1), step=step)
            time.sleep(float(os.environ.get("TRIAL_SLEEP", "0.3")))

    result = mlops.sweep(objective, {"x": "uniform(0, 3)"}, name=sys.argv[1], experiment="e",
                         trials=int(sys.argv[2]), metric="loss", jobs=int(sys.argv[3]),
                         pruner="none", seed=1, storage=os.environ.get("SWEEP_STORAGE") or None)
    print("RESULT", result.state, result.ran, sorted(result.counts.items()))
    """
)


def start(store: str, name: str, trials: int, jobs: int, **env: str) -> subprocess.Popen:
    """Start :data:`SLOW_SWEEP` in its own process group (so a test can signal all of it)."""
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_SWEEP, name, str(trials), str(jobs)],
        env={**os.environ, "JUPYTER_MLOPS_STORE": store, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def trial_runs(store: str, name: str) -> list[dict]:
    """The trial runs of sweep ``name`` as stored (with the store's KILLED rule applied)."""
    runs = EmbeddedStore.open(store).list_runs()
    return [r for r in runs if r["tags"].get("mlops.sweep.name") == name and
            r["tags"].get("mlops.sweep.role") == "trial"]  # fmt: skip


def wait_for(condition, timeout: float = 120.0, every: float = 0.1) -> None:
    """Poll ``condition()`` until it is true; fail the test past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the sweep"
        time.sleep(every)


def finished(store: str, name: str) -> int:
    """How many trials of ``name`` reached a final state."""
    final = {"complete", "pruned", "failed"}
    return sum(r["tags"].get("mlops.sweep.state") in final for r in trial_runs(store, name))
