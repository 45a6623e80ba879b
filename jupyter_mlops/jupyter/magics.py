"""``%%mlops_track`` and ``%mlops_track start|stop|status``: tracking from the notebook.

A thin adapter: it parses arguments, calls the tracking core (:mod:`jupyter_mlops.tracking`),
and prints one line. Cell hooks are registered in :func:`load` only, removed by :func:`unload`,
and every failure inside them becomes a warning: they never break the user's cell.
"""

from __future__ import annotations

import functools
import re
import sys
import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.jupyter import tracked_run as tr
from jupyter_mlops.jupyter.magic_util import parse

MAX_PENDING_CAPTURES = 8
WAIT_PENDING_S = 2.0
_VARIABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_ACTION_FLAGS = {
    None: {"experiment", "name", "params", "metrics", "tags", "no_autolog", "system_metrics"},
    "start": {"experiment", "name", "tags", "no_autolog", "system_metrics"},
    "stop": {"params", "metrics", "tags"},
    "status": set(),
}
_FLAG_NAMES = {
    "experiment": "-e",
    "name": "-n",
    "params": "-p",
    "metrics": "-m",
    "tags": "-t",
    "no_autolog": "--no-autolog",
    "system_metrics": "--system-metrics",
}


@magics_class
class TrackingMagics(Magics):
    """The ``%mlops_track`` magics and the state of an open ``start`` run."""

    def __init__(self, shell: Any):
        super().__init__(shell)
        self.session: tr.SessionRun | None = None

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's namespace."""
        assert self.shell is not None
        return self.shell.user_ns

    @magic_arguments()
    @argument(
        "action",
        nargs="?",
        choices=("start", "stop", "status"),
        help="line magic only: open a run spanning cells, close it, or show what is open",
    )
    @argument("-e", "--experiment", metavar="EXP", help="experiment name (default: Default)")
    @argument("-n", "--name", metavar="NAME", help="run name (default: a generated one)")
    @argument(
        "-p",
        "--param",
        dest="params",
        nargs="+",
        action="extend",
        metavar="VAR",
        help="variables logged as params after the cell (a dict logs each item)",
    )
    @argument(
        "-m",
        "--metric",
        dest="metrics",
        nargs="+",
        action="extend",
        metavar="VAR",
        help="variables logged as metrics after the cell (a list of numbers logs each step)",
    )
    @argument(
        "-t",
        "--tag",
        dest="tags",
        nargs="+",
        action="extend",
        metavar="KEY=VALUE",
        help="tags of the run",
    )
    @argument("--no-autolog", action="store_true", help="do not autolog scikit-learn fits")
    @argument(
        "--system-metrics",
        action="store_true",
        help="sample CPU, memory, disk, network and GPU in the background (needs psutil)",
    )
    @line_cell_magic
    def mlops_track(self, line: str, cell: str | None = None) -> Any:
        """Track a cell, or a span of cells, as one run.

        ``%%mlops_track`` runs the cell as one run and records its code (``code/cell.py``),
        its duration (``duration_s``), the notebook path, git commit, branch and uncommitted
        diff, Python version, packages, host and user, and everything scikit-learn fits in it:
        params, training metrics, the model, the training data, grid-search candidates as child
        runs, and ``sklearn.metrics`` calls made after the fit (``--no-autolog`` turns that
        off). ``-p``/``-m`` name variables whose values after the cell are logged as params or
        metrics; a name that does not exist then is reported in one warning line and the run is
        kept. Re-running the cell makes a new run. An exception marks the run FAILED (tag
        ``mlops.error``) and reaches you with its usual traceback. Inside an open
        ``%mlops_track start`` run (or any active run) the cell's run is nested under it.

        ``%mlops_track start`` opens a run spanning several cells: every cell run is recorded
        and saved at ``%mlops_track stop`` as the notebook ``code/session_history.ipynb``;
        scikit-learn fits in those cells are autologged to it. A new ``start`` finishes the open
        run first. ``%mlops_track stop`` accepts ``-p``/``-m``/``-t``; ``%mlops_track status``
        shows what is open. PyTorch training in the cell is autologged too (optimizer and
        loss settings, ``train_loss``/``val_loss`` per epoch, the model), and so is whatever it
        writes to a ``SummaryWriter``. ``--system-metrics`` samples CPU, memory, disk, network
        and GPU every few seconds into ``system/*`` metrics. Set ``JUPYTER_MLOPS_QUIET=1`` to
        silence the summary lines.

        Examples
        --------
        In [1]: %load_ext jupyter_mlops

        In [2]: %%mlops_track -e churn -p C -m accuracy -t team=risk
           ...: C = 0.5
           ...: clf = LogisticRegression(C=C).fit(X_train, y_train)
           ...: accuracy = clf.score(X_test, y_test)
        ✓ run swift-owl-42 · 3f2a91c0 · churn · accuracy=0.953 training_accuracy_score=0.96 · 0.41s

        In [3]: %mlops_track start -e churn -n exploration
        ● run exploration · 9b1c22d4 · churn · recording cells until %mlops_track stop

        In [4]: %mlops_track status
        ● run exploration · 9b1c22d4 · churn · 2 cells recorded · 1m10s

        In [5]: %mlops_track stop -m accuracy
        ✓ run exploration · 9b1c22d4 · churn · accuracy=0.953 · 3 cells · 2m41s
        """
        args = _parse(self.mlops_track, line)
        _check_flags(args, cell is not None)
        if cell is not None:
            return self._track_cell(args, cell)
        return {"start": self._start, "stop": self._stop, "status": self._status}[args.action](args)

    # -- %%mlops_track ---------------------------------------------------------------------------
    def _track_cell(self, args: Any, cell: str) -> Any:
        compiled = self._compile(cell)
        run = self._begin(args, cell)
        started = time.perf_counter()
        try:
            with self._autolog(not args.no_autolog, cell, args.metrics or ()):
                value = tr.execute(self.shell, compiled)
        except BaseException as error:
            seconds = time.perf_counter() - started
            _guard("recording the failed run", self._fail, run, args, error, seconds)
            _guard("ending the run", _end, run, "FAILED")
            tr.show_failure_cleanly(self.shell, error, compiled.filename)
            raise
        _guard("recording the run", self._succeed, run, args, time.perf_counter() - started)
        _guard("ending the run", _end, run, "FINISHED")  # never leave it open after a failure
        return value

    def _compile(self, cell: str) -> tr.CompiledCell:
        tr.restore_traceback_handler(self.shell)
        try:
            return tr.compile_cell(self.shell, cell)
        except SyntaxError as error:  # no run for code that cannot start
            tr.show_failure_cleanly(self.shell, error, "")
            raise

    def _begin(self, args: Any, cell: str) -> Any:
        from jupyter_mlops.store import get_store
        from jupyter_mlops.tracking import context, fluent

        tags = _parse_tags(args.tags)
        if context.pending_captures() > MAX_PENDING_CAPTURES:  # back-pressure for cell loops
            context.wait_for_captures(WAIT_PENDING_S)
        nested = fluent.active_run() is not None
        run = tr.start(args.name, args.experiment, tags, nested, args.system_metrics)
        context.submit(context.put_text, get_store(), run.id, tr.CELL_ARTIFACT, cell)
        return run

    def _autolog(
        self, enabled: bool, cell: str, metric_vars: Any = ()
    ) -> AbstractContextManager[Any]:
        if not enabled:
            return nullcontext()
        from jupyter_mlops.tracking.autolog import autolog

        return autolog(self.user_ns, cell, list(metric_vars))

    def _succeed(self, run: Any, args: Any, seconds: float) -> None:
        metrics = args.metrics or []
        problems = tr.log_variables(run, args.params or [], metrics, self.user_ns)
        tr.finish(run, seconds)
        tr.say(tr.summary("✓", run, tr.headline(run.id, metrics), tr.duration(seconds)), run)
        tr.warn_line(problems)

    def _fail(self, run: Any, args: Any, error: BaseException, seconds: float) -> None:
        params, metrics = args.params or [], args.metrics or []
        tr.log_variables(run, params, metrics, self.user_ns, report_missing=False)
        status = tr.finish(run, seconds, error)
        tr.say(tr.summary("✗", run, f"{status}: {type(error).__name__}", tr.duration(seconds)), run)

    # -- %mlops_track start | stop | status --------------------------------------------------------
    def _start(self, args: Any) -> None:
        tags = _parse_tags(args.tags)
        if self.session is not None:
            old = self.session.run
            self.stop_session([], [], {})
            print(
                f"jupyter_mlops: finished run {old.name!r} ({old.id[:8]}) before starting a new one"
            )
        run = tr.start(args.name, args.experiment, tags, system_metrics=args.system_metrics)
        self.session = tr.SessionRun(run, autolog=not args.no_autolog)
        tr.say(tr.summary("●", run, "recording cells until %mlops_track stop"))

    def _stop(self, args: Any) -> None:
        if self.session is None:
            raise UsageError("No %mlops_track run is open: start one with %mlops_track start.")
        line = self.stop_session(args.params or [], args.metrics or [], _parse_tags(args.tags))
        tr.say(line)

    def stop_session(self, params: list[str], metrics: list[str], tags: dict[str, str]) -> str:
        """Finish the open ``start`` run and save its session history; returns the summary."""
        from jupyter_mlops.store import get_store
        from jupyter_mlops.tracking import context

        session, self.session = self.session, None
        assert session is not None
        run = session.run
        store = get_store()
        problems = tr.log_variables(run, params, metrics, self.user_ns)
        if tags:
            store.set_tags(run.id, tags)
        seconds = time.perf_counter() - session.started
        tr.finish(run, seconds)  # also when the run was ended meanwhile: it records the duration
        context.submit(tr.save_history, store, run.id, list(session.cells))
        tr.warn_line(problems)
        cells = f"{len(session.cells)} cell{'s' * (len(session.cells) != 1)}"
        return tr.summary("✓", run, tr.headline(run.id, metrics), cells, tr.duration(seconds))

    def _status(self, args: Any) -> None:
        from jupyter_mlops.tracking import fluent

        session = self.session
        if session is None:
            active = fluent.active_run()
            hint = f" (active run: {active.name} · {active.id[:8]})" if active else ""
            print(f"No %mlops_track run is open{hint}; start one with %mlops_track start.")
            return
        n = len(session.cells)
        seconds = time.perf_counter() - session.started
        print(
            tr.summary("●", session.run, f"{n} cell{'s' * (n != 1)} recorded", tr.duration(seconds))
        )


# -- arguments ---------------------------------------------------------------------------------
def _parse(magic: Any, line: str) -> Any:
    return parse(magic, line, "mlops_track")


def _check_flags(args: Any, is_cell: bool) -> None:
    if is_cell and args.action is not None:
        raise UsageError(
            f"'{args.action}' is for the line magic: write %mlops_track {args.action} on its own "
            "line; %%mlops_track on a cell takes options only (see %mlops_track?)."
        )
    if not is_cell and args.action is None:
        raise UsageError(
            "%mlops_track needs start, stop or status (or use %%mlops_track on a cell); "
            "see %mlops_track?."
        )
    allowed = _ACTION_FLAGS[args.action]
    for dest, flag in _FLAG_NAMES.items():
        if getattr(args, dest) not in (None, False, []) and dest not in allowed:
            where = "%%mlops_track" if args.action is None else f"%mlops_track {args.action}"
            raise UsageError(f"{where} does not take {flag}; see %mlops_track? for what it takes.")
    if args.experiment is not None and not args.experiment.strip():
        raise UsageError("The experiment name is empty: give one with -e NAME, e.g. -e churn.")
    for name in [*(args.params or []), *(args.metrics or [])]:
        if not _VARIABLE.match(name):
            raise UsageError(
                f"-p/-m take variable names such as accuracy or results.f1, not {name!r}."
            )


def _parse_tags(items: list[str] | None) -> dict[str, str]:
    tags = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"Bad tag {item!r}: write -t KEY=VALUE, e.g. -t team=vision.")
        tags[key.strip()] = value
    return tags


# -- cell hooks --------------------------------------------------------------------------------
class CellHooks:
    """The ``pre_run_cell``/``post_run_cell`` hooks.

    They autolog and record the cells of an open ``start`` run and flush buffered metrics at
    cell end. Each step is guarded separately: a failure is a warning, never a broken cell.
    """

    def __init__(self, magics: TrackingMagics):
        self.magics = magics
        self._autolog: AbstractContextManager[Any] | None = None

    def pre_run_cell(self, info: Any = None) -> None:
        """Enter autologging for a cell of an open ``start`` run."""
        _guard("the pre_run_cell hook", self._enter_autolog, info)

    def post_run_cell(self, result: Any = None) -> None:
        """Leave autologging, record the cell, flush metrics."""
        _guard("the post_run_cell hook", self._exit_autolog)
        _guard("the post_run_cell hook", self._record, result)
        _guard("the post_run_cell hook", _flush)
        _guard("the post_run_cell hook", tr.restore_traceback_handler, self.magics.shell)

    def _enter_autolog(self, info: Any) -> None:
        session = self.magics.session
        if session is None or not session.autolog or self._autolog is not None:
            return
        from jupyter_mlops.tracking.autolog import autolog

        cell = getattr(info, "raw_cell", "") or ""
        manager = autolog(self.magics.user_ns, cell)
        manager.__enter__()
        self._autolog = manager

    def _exit_autolog(self) -> None:
        manager, self._autolog = self._autolog, None
        if manager is not None:
            manager.__exit__(None, None, None)

    def _record(self, result: Any) -> None:
        if self.magics.session is not None:
            self.magics.session.record(result)


def _end(run: Any, status: str) -> None:
    from jupyter_mlops.tracking import fluent

    fluent.end_run(status, run_id=run.id)  # a no-op when the run already ended


def _flush() -> None:
    fluent = sys.modules.get("jupyter_mlops.tracking.fluent")
    if fluent is not None:  # nothing was ever logged when tracking is not even imported
        fluent.flush_soon()


def _guard(where: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except Exception as e:
        warnings.warn(
            f"jupyter_mlops: {where} failed and was skipped ({type(e).__name__}: {e}); "
            "your cell is not affected.",
            RuntimeWarning,
            stacklevel=2,
        )


# -- extension hooks ---------------------------------------------------------------------------
_loaded: dict[int, tuple[TrackingMagics, CellHooks, Any]] = {}


def load(ipython: Any) -> None:
    """Register every magic, the cell hooks and the context capture (idempotent).

    Besides ``%mlops_track``, each module ``jupyter_mlops/jupyter/magics_<name>.py`` that defines
    ``register(ipython)`` is registered here (and ``unregister(ipython)``, if defined, is called
    by :func:`unload`), so the other magics need no change to this file. One module failing to
    register is a warning; the others still load.
    """
    if id(ipython) in _loaded:
        return
    from jupyter_mlops.jupyter.notebook_path import find_notebook_path
    from jupyter_mlops.tracking import context

    magics = TrackingMagics(ipython)
    ipython.register_magics(magics)
    for module in _magic_modules():
        _guard(f"registering {module}", _call_module, module, "register", ipython)
    hooks = CellHooks(magics)
    ipython.events.register("pre_run_cell", hooks.pre_run_cell)
    ipython.events.register("post_run_cell", hooks.post_run_cell)
    finder = functools.partial(find_notebook_path, ipython.user_ns)
    context.install(finder)
    _loaded[id(ipython)] = (magics, hooks, finder)


def unload(ipython: Any) -> None:
    """Finish an open ``start`` run, remove the hooks and ``%mlops_track``."""
    entry = _loaded.pop(id(ipython), None)
    if entry is None:
        return
    magics, hooks, finder = entry
    if magics.session is not None:
        _guard("finishing the open run", lambda: tr.say(magics.stop_session([], [], {})))
    for event, callback in (
        ("pre_run_cell", hooks.pre_run_cell),
        ("post_run_cell", hooks.post_run_cell),
    ):
        try:
            ipython.events.unregister(event, callback)
        except ValueError:
            pass
    from jupyter_mlops.tracking import context

    context.uninstall(finder)
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("mlops_track", None)
    for module in _magic_modules():
        _guard(f"unregistering {module}", _call_module, module, "unregister", ipython)


def _magic_modules() -> list[str]:
    import pkgutil

    import jupyter_mlops.jupyter as package

    names = [m.name for m in pkgutil.iter_modules(package.__path__)]
    return [f"{package.__name__}.{name}" for name in sorted(names) if name.startswith("magics_")]


def _call_module(module: str, function: str, ipython: Any) -> None:
    import importlib

    fn = getattr(importlib.import_module(module), function, None)
    if fn is not None:
        fn(ipython)
