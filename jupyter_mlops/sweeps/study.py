"""The Optuna side of a sweep: storage, sampler, pruner, and the study a sweep continues.

A sweep's study lives with the store: an Optuna journal file under ``<store>/sweeps/`` for the
embedded store (several processes append to it safely, so ``--jobs`` workers share it and a
re-run continues it), under the cache folder for a remote store, or any Optuna RDB URL given as
``storage`` (``postgresql://...``) so workers on several machines share one study.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

from jupyter_mlops.errors import InvalidInput, MissingDependency
from jupyter_mlops.sweeps.space import Param, to_json

INSTALL = "pip install 'jupyter-mlops[sweep]' (or: pip install optuna)"
SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("minimize", "maximize")
WORKER_ATTR = "mlops_worker"
"""A trial's user attribute: ``{"host", "pid", "start", "run_id"}`` of the process running it."""
ERROR_ATTR = "mlops_error"
_SWEEP_NAME = re.compile(r"^[\w.-]{1,200}$")
_RDB = re.compile(r"^(postgresql|postgres|mysql|sqlite|oracle|mssql)(\+\w+)?://")


@dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a sweep (frozen: workers get a copy)."""

    name: str
    experiment: str
    metric: str
    direction: str
    space: tuple[Param, ...]
    trials: int | None = None
    timeout: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    jobs: int = 1
    storage: str | None = None
    seed: int | None = None
    autolog: bool = False

    def __post_init__(self) -> None:
        check_choice("direction", self.direction, DIRECTIONS)
        check_choice("sampler", self.sampler, SAMPLERS)
        check_choice("pruner", self.pruner, PRUNERS)
        if not _SWEEP_NAME.match(str(self.name)):
            raise InvalidInput(
                f"Sweep name {self.name!r} may hold letters, digits, '_', '-' and '.' only "
                "(-n NAME; re-running a sweep with its name continues it)."
            )
        if not self.metric or not str(self.metric).strip():
            raise InvalidInput("A sweep needs the metric to optimize (-m METRIC).")
        if self.trials is None and self.timeout is None:
            raise InvalidInput("Give the sweep a budget: --trials N and/or --timeout SECONDS.")
        if self.trials is not None and (not isinstance(self.trials, int) or self.trials < 1):
            raise InvalidInput(f"--trials must be a positive integer, not {self.trials!r}.")
        if self.timeout is not None and not self.timeout > 0:
            raise InvalidInput(
                f"--timeout must be a positive number of seconds, not {self.timeout!r}."
            )
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise InvalidInput(f"--jobs must be a positive integer, not {self.jobs!r}.")

    @property
    def space_json(self) -> str:
        """The search space as the parent run records it."""
        return to_json(self.space)


def check_choice(what: str, value: Any, allowed: tuple[str, ...]) -> None:
    """One clear message for an option outside its choices."""
    if value not in allowed:
        raise InvalidInput(f"Unknown {what} {value!r}: use one of {', '.join(allowed)}.")


def optuna_module() -> Any:
    """``optuna``, quiet, or the message that says how to install it."""
    try:
        import optuna
    except ImportError:
        raise MissingDependency(
            f"Sweeps run on Optuna, which is not installed: {INSTALL}."
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# -- storage ------------------------------------------------------------------------------------
def storage_url(config: SweepConfig, tracking_uri: str) -> str:
    """Where the study lives: ``config.storage``, else a journal file kept with the store."""
    if config.storage:
        url = str(config.storage)
        if not _RDB.match(url) and not url.startswith("journal:"):
            raise InvalidInput(
                f"Unsupported sweep storage {redact(url)!r}: give an Optuna RDB URL such as "
                "postgresql://user@host/db, or journal:/path/to/file."
            )
        return url
    if tracking_uri.startswith("memory:"):
        return "memory:"
    if tracking_uri.startswith("mlflow+"):
        root = os.environ.get("JUPYTER_MLOPS_CACHE") or os.path.expanduser("~/.cache/jupyter-mlops")
        folder = os.path.join(root, "sweeps", _slug(tracking_uri))
    else:
        folder = os.path.join(tracking_uri, "sweeps")
    return "journal:" + os.path.join(
        folder, f"{_slug(config.experiment)}--{_slug(config.name)}.log"
    )


def open_storage(url: str) -> Any:
    """An Optuna storage object for :func:`storage_url`'s answer (one per process)."""
    optuna = optuna_module()
    if url == "memory:":
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        from jupyter_mlops.sweeps.journal import StoreJournal

        return optuna.storages.JournalStorage(StoreJournal(url[len("journal:") :]))
    try:
        return _rdb(optuna, url)
    except ImportError as e:
        raise MissingDependency(
            f"The sweep storage {redact(url)} needs a database driver ({e}): for PostgreSQL, "
            "pip install 'psycopg[binary]' (part of jupyter-mlops[sweep])."
        ) from e
    except Exception as e:
        raise InvalidInput(f"Cannot open the sweep storage {redact(url)}: {_first_line(e)}") from e


def _rdb(optuna: Any, url: str) -> Any:
    for attempt in range(5):  # two processes creating the schema at once collide: retry
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as e:
            if attempt == 4 or not _collided(e):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _collided(error: BaseException) -> bool:
    text = str(error)
    return "already exists" in text or "UniqueViolation" in text or "duplicate key" in text


def redact(url: str) -> str:
    """``url`` without a password (it goes into tags and messages)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", str(url))


def _slug(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:60] or "sweep"
    return f"{clean}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# -- sampler, pruner, study ---------------------------------------------------------------------
def make_sampler(config: SweepConfig, worker: int = 0) -> Any:
    """The sampler named by ``config`` (each worker gets its own seed)."""
    optuna = optuna_module()
    seed = None if config.seed is None else config.seed + worker
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if config.sampler == "grid":
        return optuna.samplers.GridSampler({p.name: p.grid() for p in config.space}, seed=seed)
    if config.sampler == "cmaes":
        try:
            import cmaes  # noqa: F401 - Optuna's CmaEsSampler needs it
        except ImportError:
            raise MissingDependency(
                f"The cmaes sampler needs the cmaes package: {INSTALL}."
            ) from None
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed)


def grid_size(config: SweepConfig) -> int:
    """How many points the grid sampler has (``--trials`` beyond it would repeat them)."""
    size = 1
    for param in config.space:
        size *= len(param.grid())
    return size


def make_pruner(config: SweepConfig) -> Any:
    """The pruner named by ``config``."""
    optuna = optuna_module()
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def open_study(config: SweepConfig, storage: Any, worker: int = 0, create: bool = True) -> Any:
    """The sweep's study, created on first use; a continued study must match ``config``."""
    optuna = optuna_module()
    kwargs = {
        "storage": storage,
        "study_name": config.name,
        "sampler": make_sampler(config, worker),
        "pruner": make_pruner(config),
    }
    if not create:
        return optuna.load_study(**kwargs)
    for attempt in range(3):  # two processes creating one RDB schema at once can collide
        try:
            study = optuna.create_study(direction=config.direction, load_if_exists=True, **kwargs)
            break
        except Exception as e:
            if attempt == 2 or not _collided(e):
                raise InvalidInput(f"Cannot open sweep {config.name!r}: {_first_line(e)}") from e
            time.sleep(0.2 * (attempt + 1))
    _check_same_sweep(study, config)
    return study


def _check_same_sweep(study: Any, config: SweepConfig) -> None:
    wanted = {"metric": config.metric, "experiment": config.experiment, "space": config.space_json}
    have = study.user_attrs
    if not have:
        for key, value in wanted.items():
            study.set_user_attr(key, value)
        return
    direction = study.direction.name.lower()
    for key, value in {**wanted, "direction": config.direction}.items():
        old = direction if key == "direction" else have.get(key)
        if old is not None and old != value:
            raise InvalidInput(
                f"Sweep {config.name!r} already exists with {key} {old}, not {value}: keep "
                "the same settings to continue it, or give the new sweep another name (-n)."
            )


# -- trials left from dead processes ------------------------------------------------------------
def worker_tag() -> dict[str, Any]:
    """Who runs a trial: recorded on it, so a later run can tell a dead one from a live one."""
    from jupyter_mlops.processes import process_start_time

    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": process_start_time(pid)}


def run_id_of(trial: Any) -> str | None:
    """The id of the run that records ``trial``."""
    return (trial.user_attrs.get(WORKER_ATTR) or {}).get("run_id")


def fail_orphans(study: Any, mine: bool = False) -> list[Any]:
    """Fail trials still RUNNING whose process on this host is gone; returns them.

    With ``mine``, this process's own running trials too (an interrupt that struck between a
    trial's start and its end).
    """
    from jupyter_mlops.processes import process_alive

    optuna = optuna_module()
    host, orphans = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR) or {}
        own = mine and worker.get("pid") == os.getpid()
        gone = not process_alive(worker.get("pid"), worker.get("start"))
        if worker.get("host") == host and (own or gone):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            orphans.append(trial)
    return orphans


def counted(study: Any, before: int | None = None) -> int:
    """Trials that count against ``--trials``: finished, failing or in flight.

    Not those lost to an interrupt or a dead process (a failure of the objective records
    ``ERROR_ATTR``; a lost trial is failed without it). With ``before``, only trials numbered
    below it.
    """
    state = optuna_module().trial.TrialState
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if (t.state != state.FAIL or ERROR_ATTR in t.user_attrs)
        and (before is None or t.number < before)
    )
