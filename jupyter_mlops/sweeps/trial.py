"""One trial: ask Optuna for params, run the objective as a child run, tell Optuna the result.

The objective is called with the sampled params as a dict. It may return the metric (a number),
a dict of metrics holding it, or nothing when it logs the metric itself; what it logs with
``log_metric(key, value, step=...)`` feeds the pruner as it goes: a point of the sweep's metric is
reported to Optuna, and when the pruner says stop, ``TrialPruned`` is raised from that very
``log_metric`` call. Whatever the objective prints is kept with the trial's run
(``output.txt``), so a sweep of a hundred trials does not flood the notebook.
"""

from __future__ import annotations

import contextlib
import io
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.sweeps import overfit
from jupyter_mlops.sweeps import study as st
from jupyter_mlops.tracking import fluent

Objective = Callable[[dict[str, Any]], Any]
STATES = ("complete", "pruned", "failed", "interrupted")
_RUN_STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}
OUTPUT_ARTIFACT = "output.txt"
TRACEBACK_ARTIFACT = "traceback.txt"
MAX_OUTPUT_CHARS = 100_000


class TrialFailed(Exception):
    """The objective ran but gave no usable metric."""


@dataclass(frozen=True)
class TrialResult:
    """What one trial came to."""

    number: int
    run_id: str
    state: str
    value: float | None
    params: dict[str, Any]
    duration_s: float
    error: str | None = None


@dataclass
class _Watch:
    """The trial's ``log_metric`` listener: histories, and the pruner fed with the metric."""

    trial: Any
    run_id: str
    metric: str
    pruned: type[BaseException]
    prune: bool = True
    histories: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def __call__(self, run_id: str, key: str, value: float, step: int) -> None:
        if run_id != self.run_id:
            return
        self.histories.setdefault(key, []).append((step, value))
        if self.prune and key == self.metric and math.isfinite(value):
            self.trial.report(value, step)
            if self.trial.should_prune():
                raise self.pruned(f"pruned at step {step} ({key}={value:.6g})")

    @property
    def last(self) -> float | None:
        points = self.histories.get(self.metric)
        return points[-1][1] if points else None


def run_trial(
    study: Any, config: st.SweepConfig, objective: Objective, budget: int | None = None
) -> TrialResult | None:
    """Run one trial of ``study`` as a child of the active (parent) run.

    With ``budget`` (the study's total), a trial that Optuna numbered past it — another
    machine took the last one first — is given back at once and ``None`` is returned.
    """
    optuna = st.optuna_module()
    with Uninterrupted() as guard:  # a trial half set up could not be told from a live one
        trial = study.ask()
        if budget is not None and st.counted(study, before=trial.number) >= budget:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not counted: no ERROR_ATTR
            return None
        params = {p.name: p.suggest(trial) for p in config.space}
        run = fluent.start_run(
            name=f"{config.name}-{trial.number}",
            experiment=config.experiment,
            nested=fluent.active_run() is not None,
            tags=_trial_tags(config, trial.number),
        )
        trial.set_user_attr(st.WORKER_ATTR, {**st.worker_tag(), "run_id": run.id})
        fluent.log_params(params)
        watch = _Watch(trial, run.id, config.metric, optuna.TrialPruned, config.pruner != "none")
    started = time.perf_counter()
    state: str
    value: float | None
    error: str | None
    if guard.interrupted:
        state, value, error = "interrupted", None, "interrupted"
    else:
        state, value, error = _execute(objective, params, watch, config, optuna.TrialPruned)
    seconds = time.perf_counter() - started
    with Uninterrupted() as after:
        _record(config, watch, state, value, error, seconds)
        _tell(study, trial, state, value, error, optuna)
    if state == "interrupted" or after.interrupted:
        raise KeyboardInterrupt
    return TrialResult(trial.number, run.id, state, value, params, seconds, error)


class Uninterrupted:
    """Hold Ctrl-C (SIGINT) back for a block of bookkeeping; ``.interrupted`` says if it came.

    Only the main thread can set signal handlers; elsewhere the block runs unguarded.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._previous: Any = None

    def __enter__(self) -> Uninterrupted:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum: int, frame: Any) -> None:
        self.interrupted = True

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _trial_tags(config: st.SweepConfig, number: int) -> dict[str, str]:
    return {
        "mlops.sweep.name": config.name,
        "mlops.sweep.role": "trial",
        "mlops.sweep.trial": str(number),
        "mlops.sweep.state": "running",
    }


def _execute(
    objective: Objective,
    params: dict[str, Any],
    watch: _Watch,
    config: st.SweepConfig,
    pruned: type[BaseException],
) -> tuple[str, float | None, str | None]:
    output = io.StringIO()
    fluent.add_metric_listener(watch)
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            with _autolog(config.autolog):
                returned = objective(dict(params))
        fluent.remove_metric_listener(watch)  # the final value is no intermediate one
        return "complete", _metric_value(returned, watch, config.metric), None
    except pruned as e:
        return "pruned", watch.last, str(e)
    except KeyboardInterrupt:
        return "interrupted", None, "interrupted"
    except TrialFailed as e:
        return "failed", None, str(e)
    except Exception as e:
        _keep_text(TRACEBACK_ARTIFACT, traceback.format_exc())
        return "failed", None, f"{type(e).__name__}: {e}"
    finally:
        fluent.remove_metric_listener(watch)
        _keep_text(OUTPUT_ARTIFACT, output.getvalue())


def _autolog(enabled: bool) -> Any:
    if not enabled:
        return contextlib.nullcontext()
    from jupyter_mlops.tracking.autolog import autolog

    return autolog()


def _metric_value(returned: Any, watch: _Watch, metric: str) -> float:
    if isinstance(returned, dict):
        returned = returned.get(metric)
    if returned is None:
        returned = watch.last
        if returned is None:
            raise TrialFailed(
                f"the trial neither set nor logged the metric {metric!r}: leave it in a variable "
                f"named {metric} or call log_metric({metric!r}, value)"
            )
    try:
        value = float(returned)
    except (TypeError, ValueError):
        raise TrialFailed(f"the metric {metric!r} is not a number: {returned!r}") from None
    if not math.isfinite(value):
        raise TrialFailed(f"the metric {metric!r} is {value}")
    if watch.last != value:  # a value the cell left in a variable or returned is logged once
        fluent.log_metric(metric, value)
    return value


def _record(
    config: st.SweepConfig,
    watch: _Watch,
    state: str,
    value: float | None,
    error: str | None,
    seconds: float,
) -> None:
    tags = {"mlops.sweep.state": state}
    if error and state != "complete":
        tags["mlops.error" if state != "pruned" else "mlops.sweep.pruned"] = error[:5000]
    diagnosis = overfit.diagnose(watch.histories)
    if diagnosis is not None and diagnosis.overfit:
        tags["mlops.sweep.overfit"] = diagnosis.detail
    fluent.remove_metric_listener(watch)
    fluent.log_metric("duration_s", round(seconds, 6))
    fluent.set_tags(tags)
    fluent.end_run(_RUN_STATUS.get(state, "KILLED"), run_id=watch.run_id)


def _tell(
    study: Any, trial: Any, state: str, value: float | None, error: str | None, optuna: Any
) -> None:
    states = optuna.trial.TrialState
    if state == "failed":
        trial.set_user_attr(st.ERROR_ATTR, (error or "")[:2000])
    try:
        if state == "complete":
            study.tell(trial, value)
        else:
            study.tell(trial, state=states.PRUNED if state == "pruned" else states.FAIL)
    except RuntimeError as e:  # the grid sampler stops the study when its grid is done: the
        if "Study.stop" not in str(e):  # trial is stored by then, and the budget stops at the grid
            raise


def _keep_text(path: str, text: str) -> None:
    if not text:
        return
    from jupyter_mlops.tracking.artifacts import log_text

    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f"\n... ({len(text) - MAX_OUTPUT_CHARS} more characters)\n"
    try:
        log_text(text, path)
    except Exception:  # noqa: S110 - the trial's outcome matters more than its printout
        pass
