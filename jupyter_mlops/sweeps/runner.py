"""``sweep(objective, space, ...)``: a sweep as one parent run with one child run per trial.

How it runs
-----------
- ``jobs=1``: trials run one after the other in this process (the notebook's kernel).
- ``jobs=K``: K worker processes are forked from this one, so each sees everything the notebook
  defined; each asks the shared study for params, runs trials and logs them to the store itself
  (the store and the Optuna journal take several writers). This process waits, polling, and calls
  ``on_progress`` so a panel can redraw.
- ``--trials N`` is the study's total: re-running a sweep with the same name continues its study
  up to N. Trials lost to an interrupt or to a killed process do not count; a killed kernel's
  trials in flight are failed on the next run.
- Ctrl-C stops the sweep: trials in flight are recorded as interrupted (runs KILLED), the
  finished ones stay, and ``KeyboardInterrupt`` reaches the caller.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.store import get_store, get_tracking_uri
from jupyter_mlops.sweeps import study as st
from jupyter_mlops.sweeps.space import parse_space
from jupyter_mlops.sweeps.trial import Objective, TrialResult, run_trial
from jupyter_mlops.tracking import fluent

POLL_S = 0.25
STOP_GRACE_S = 10.0
"""How long interrupted workers get to record their trial before they are killed."""
ProgressHook = Callable[[], None]


@dataclass(frozen=True)
class SweepResult:
    """How a sweep ended (see :func:`jupyter_mlops.sweeps.views.load_sweep` for every trial)."""

    name: str
    experiment: str
    parent_run_id: str
    state: str
    metric: str
    direction: str
    ran: int
    counts: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    best_run_id: str | None = None
    best_number: int | None = None

    def summary(self) -> str:
        """One line: state, trial counts, the best trial."""
        counts = " ".join(f"{n} {k}" for k, n in self.counts.items() if n)
        best = ""
        if self.best_value is not None:
            params = " ".join(f"{k}={_short(v)}" for k, v in self.best_params.items())
            best = (
                f" · best {self.metric}={self.best_value:.6g} (trial {self.best_number}: {params})"
            )
        return (
            f"sweep {self.name} · {self.experiment} · {self.state} · {counts or 'no trials'}{best}"
        )

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.summary())}</pre>"


def sweep(
    objective: Objective,
    space: Mapping[str, Any] | list[str],
    name: str,
    experiment: str | None = None,
    trials: int | None = None,
    metric: str = "",
    direction: str = "minimize",
    sampler: str = "tpe",
    pruner: str = "median",
    jobs: int = 1,
    storage: str | None = None,
    timeout: float | None = None,
    seed: int | None = None,
    autolog: bool = False,
    on_progress: ProgressHook | None = None,
) -> SweepResult:
    """Search ``space`` for the params that optimize ``metric``, on Optuna.

    Parameters
    ----------
    objective : callable
        Called with the sampled params as a dict; returns the metric, a dict holding it, or
        nothing when it logs the metric with ``log_metric`` (steps feed the pruner).
    space : dict or list of str
        ``{"lr": "loguniform(1e-4, 1e-1)", "depth": "int(1, 10)", "kernel": ["rbf", "linear"]}``
        (also ``uniform(a, b)``, ``logint(a, b)``, ``choice(...)``, ``step=``).
    name : str
        The sweep's name: running it again continues the same study.
    experiment : str, optional
        Where the runs go (default: the current experiment).
    trials, timeout : int, float
        Total trials of the study, and/or seconds after which no new trial starts.
    metric, direction : str
        What to optimize, ``minimize`` or ``maximize``.
    sampler, pruner : str
        ``tpe``, ``random``, ``grid``, ``cmaes``; ``median``, ``hyperband``, ``none``.
    jobs : int
        Trials at once, each in its own worker process (forked from this one).
    storage : str, optional
        An Optuna RDB URL (``postgresql://...``) to share the study between machines; default:
        a journal file kept with the store.
    seed : int, optional
        Seed of the sampler (worker ``i`` uses ``seed + i``).
    autolog : bool
        Autolog scikit-learn fits (params, training metrics, the model) into each trial's run.
    on_progress : callable, optional
        Called after each trial (``jobs=1``) or every poll (``jobs>1``).
    """
    config = st.SweepConfig(
        name=str(name),
        experiment=experiment or current_experiment(),
        metric=str(metric),
        direction=direction,
        space=parse_space(space),
        trials=trials,
        timeout=timeout,
        sampler=sampler,
        pruner=pruner,
        jobs=jobs,
        storage=storage,
        seed=seed,
        autolog=autolog,
    )
    if not callable(objective):
        raise InvalidInput(f"The objective must be callable, not {type(objective).__name__}.")
    return run_sweep(config, objective, on_progress)


def run_sweep(
    config: st.SweepConfig, objective: Objective, on_progress: ProgressHook | None = None
) -> SweepResult:
    """Run ``config``'s sweep (the magic and :func:`sweep` both end here)."""
    url = st.storage_url(config, get_tracking_uri())
    if url == "memory:" and config.jobs > 1:
        raise InvalidInput("--jobs needs a store on disk (the memory: store is one process's).")
    storage = st.open_storage(url)
    study = st.open_study(config, storage)
    _mark_orphans(st.fail_orphans(study))
    before = st.counted(study)
    total = st.grid_size(config) if config.sampler == "grid" else None
    if config.trials is not None:
        total = config.trials if total is None else min(total, config.trials)
    left = None if total is None else max(total - before, 0)
    parent = _open_parent(config, url)
    state = "finished"
    try:
        if left != 0:
            deadline = None if config.timeout is None else time.monotonic() + config.timeout
            if config.jobs == 1:
                _run_here(study, config, objective, left, total, deadline, on_progress)
            else:
                _dispose(storage)
                _run_workers(config, objective, url, left, total, deadline, on_progress)
    except KeyboardInterrupt:
        state = "interrupted"
        raise
    finally:
        if state == "interrupted":
            _mark_orphans(st.fail_orphans(study, mine=True))
        _close_parent(parent, config, study, state)
    return _result(config, parent.id, study, state, st.counted(study) - before)


def current_experiment() -> str:
    """The experiment a sweep goes to by default: the active run's, else the default one."""
    active = fluent.active_run()
    if active is not None:
        return active.experiment
    return os.environ.get("JUPYTER_MLOPS_EXPERIMENT") or fluent.DEFAULT_EXPERIMENT


# -- the parent run -----------------------------------------------------------------------------
def find_parent(name: str, experiment: str | None = None) -> dict[str, Any] | None:
    """The parent run document of sweep ``name`` (the newest, when several)."""
    query = f"tags.`mlops.sweep.name` = '{name}' and tags.`mlops.sweep.role` = 'parent'"
    try:
        runs = fluent.find_runs(None if experiment is None else [experiment], query)
    except NotFound:
        return None
    runs.sort(key=lambda r: r.get("start_time") or 0, reverse=True)
    return runs[0] if runs else None


def _open_parent(config: st.SweepConfig, url: str) -> fluent.ActiveRun:
    tags = {
        "mlops.sweep.name": config.name,
        "mlops.sweep.role": "parent",
        "mlops.sweep.state": "running",
        "mlops.sweep.metric": config.metric,
        "mlops.sweep.direction": config.direction,
        "mlops.sweep.space": config.space_json,
        "mlops.sweep.sampler": config.sampler,
        "mlops.sweep.pruner": config.pruner,
        "mlops.sweep.trials": "" if config.trials is None else str(config.trials),
        "mlops.sweep.jobs": str(config.jobs),
        "mlops.sweep.storage": st.redact(url),
    }
    found = find_parent(config.name, config.experiment)
    nested = fluent.active_run() is not None
    if found is not None:
        return fluent.start_run(run_id=found["run_id"], tags=tags)
    return fluent.start_run(
        name=config.name, experiment=config.experiment, tags=tags, nested=nested
    )


def _close_parent(parent: fluent.ActiveRun, config: st.SweepConfig, study: Any, state: str) -> None:
    while (active := fluent.active_run()) is not None and active.id != parent.id:
        fluent.end_run("KILLED")  # a trial cut short between its start and its end
    if active is None:
        return
    counts = _counts(study)
    metrics = {f"trials_{k}": float(n) for k, n in counts.items()}
    best = _best(study)
    tags = {"mlops.sweep.state": state}
    if best is not None:
        metrics[config.metric] = float(best.value)
        tags["mlops.sweep.best_trial"] = str(best.number)
        tags["mlops.sweep.best_run_id"] = str(st.run_id_of(best) or "")
    fluent.log_metrics(metrics)
    fluent.set_tags(tags)
    fluent.end_run("KILLED" if state == "interrupted" else "FINISHED", run_id=parent.id)


def _mark_orphans(orphans: list[Any]) -> None:
    store = get_store()
    for trial in orphans:
        run_id = st.run_id_of(trial)
        if not run_id:
            continue
        try:
            store.set_tags(run_id, {"mlops.sweep.state": "interrupted"})
            store.update_run(run_id, status="KILLED", end_time=int(time.time() * 1000))
        except NotFound:
            pass


# -- trials here ----------------------------------------------------------------------------------
def _run_here(
    study: Any,
    config: st.SweepConfig,
    objective: Objective,
    left: int | None,
    total: int | None,
    deadline: float | None,
    on_progress: ProgressHook | None,
) -> list[TrialResult]:
    ran: list[TrialResult] = []
    while (left is None or len(ran) < left) and not _past(deadline):
        result = run_trial(study, config, objective, total)
        if result is None:
            break
        ran.append(result)
        if on_progress is not None:
            on_progress()
    return ran


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


# -- trials in worker processes -------------------------------------------------------------------
def _run_workers(
    config: st.SweepConfig,
    objective: Objective,
    url: str,
    left: int | None,
    total: int | None,
    deadline: float | None,
    on_progress: ProgressHook | None,
) -> None:
    ctx = multiprocessing.get_context("fork")
    budget = ctx.Value("i", -1 if left is None else left)
    stop = ctx.Event()
    fluent.flush()  # nothing buffered may be copied into the workers
    sys.stdout.flush()
    sys.stderr.flush()
    workers = []
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() in threaded processes
        warnings.simplefilter("ignore", DeprecationWarning)
        for index in range(config.jobs):
            worker = ctx.Process(
                target=_worker_main,
                args=(config, objective, url, budget, stop, deadline, index, total),
                name=f"mlops-sweep-{index}",
                daemon=True,
            )
            worker.start()
            workers.append(worker)
    try:
        _wait(workers, on_progress)
    except BaseException:
        _stop(workers, stop)
        raise


def _wait(workers: list[Any], on_progress: ProgressHook | None) -> None:
    while any(w.is_alive() for w in workers):
        multiprocessing.connection.wait([w.sentinel for w in workers if w.is_alive()], POLL_S)
        if on_progress is not None:
            on_progress()
    failed = [w for w in workers if w.exitcode not in (0, None)]
    if failed and all(w.exitcode not in (0, 130) for w in workers):
        codes = ", ".join(str(w.exitcode) for w in failed)
        raise InvalidInput(f"Every sweep worker failed (exit codes {codes}); see the trials' runs.")


def _stop(workers: list[Any], stop: Any) -> None:
    """Interrupt the workers' trials (recorded as interrupted), then make sure they are gone."""
    stop.set()
    for worker in workers:
        if worker.is_alive() and worker.pid:
            try:
                os.kill(worker.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        worker.join(max(deadline - time.monotonic(), 0.1))
        if worker.is_alive():
            worker.kill()
            worker.join(5)


def _worker_main(
    config: st.SweepConfig,
    objective: Objective,
    url: str,
    budget: Any,
    stop: Any,
    deadline: float | None,
    index: int,
    total: int | None,
) -> None:
    """A forked worker: run trials until the budget, the deadline or a stop; then exit."""
    from jupyter_mlops.sweeps import worker

    code = 1
    try:
        parent = int(multiprocessing.parent_process().pid or 0)  # type: ignore[union-attr]
        worker.settle_after_fork(parent)
        study = st.open_study(config, st.open_storage(url), worker=index, create=False)
        while worker.take(budget, stop, deadline, parent):
            if run_trial(study, config, objective, total) is None:
                break
        code = 0
    except KeyboardInterrupt:
        code = 130
    except BaseException as e:  # the kernel is told by the exit code; the run has the details
        worker.report_crash(e)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        worker.exit(code)


def _dispose(storage: Any) -> None:
    engine = getattr(storage, "engine", None)  # RDB: forked children must not share connections
    if engine is not None:
        engine.dispose()


# -- the result -----------------------------------------------------------------------------------
def _counts(study: Any) -> dict[str, int]:
    states = st.optuna_module().trial.TrialState
    counts = {"complete": 0, "pruned": 0, "failed": 0, "interrupted": 0, "running": 0}
    for t in study.get_trials(deepcopy=False):
        if t.state == states.COMPLETE:
            counts["complete"] += 1
        elif t.state == states.PRUNED:
            counts["pruned"] += 1
        elif t.state == states.FAIL:
            counts["failed" if st.ERROR_ATTR in t.user_attrs else "interrupted"] += 1
        elif t.state == states.RUNNING:
            counts["running"] += 1
    return counts


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def _result(
    config: st.SweepConfig, parent_id: str, study: Any, state: str, ran: int
) -> SweepResult:
    counts = _counts(study)
    best = _best(study)
    return SweepResult(
        name=config.name,
        experiment=config.experiment,
        parent_run_id=parent_id,
        state=state,
        metric=config.metric,
        direction=config.direction,
        ran=ran,
        counts=counts,
        best_value=None if best is None else float(best.value),
        best_params={} if best is None else dict(best.params),
        best_run_id=None if best is None else st.run_id_of(best),
        best_number=None if best is None else best.number,
    )


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
