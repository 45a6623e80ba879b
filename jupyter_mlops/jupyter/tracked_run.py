"""The pieces ``%%mlops_track`` and ``%mlops_track start|stop`` are made of.

Running a cell's code inside a magic, logging the variables named with ``-p``/``-m``, the one-line
summaries, the session-history notebook, and showing a failed cell's traceback exactly as IPython
would without the magic's own frames.
"""

from __future__ import annotations

import ast
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import CodeType, TracebackType
from typing import Any

from jupyter_mlops.errors import MlopsError
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking import fluent

HISTORY_ARTIFACT = "code/session_history.ipynb"
CELL_ARTIFACT = "code/cell.py"
MAX_OUTPUT_CHARS = 10_000
HEADLINE_METRICS = 3
_TRAINING_HEADLINES = (
    "training_accuracy_score",
    "training_f1_score",
    "training_roc_auc",
    "training_r2_score",
    "training_root_mean_squared_error",
)


# -- running a cell --------------------------------------------------------------------------
@dataclass(frozen=True)
class CompiledCell:
    """A cell compiled the way IPython would: the last expression apart, so it is displayed."""

    body: CodeType
    last: CodeType | None
    filename: str


def compile_cell(shell: Any, cell: str) -> CompiledCell:
    """Transform (``!cmd``, ``%magic``) and compile ``cell``; ``SyntaxError`` propagates.

    A blank first line stands for the ``%%mlops_track`` line, so tracebacks show the line
    numbers the user sees.
    """
    source = "\n" + shell.transform_cell(cell)
    filename = shell.compile.cache(source, shell.execution_count, raw_code="\n" + cell)
    tree = ast.parse(source, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        last = shell.compile(ast.Expression(tree.body.pop().value), filename, "eval")
    return CompiledCell(shell.compile(tree, filename, "exec"), last, filename)


def execute(shell: Any, compiled: CompiledCell) -> Any:
    """Run the cell in the user namespace; returns the last expression's value."""
    __tracebackhide__ = True  # noqa: F841 - read by IPython's traceback formatter
    exec(compiled.body, shell.user_global_ns, shell.user_ns)  # noqa: S102 - the user's own cell
    if compiled.last is not None:
        return eval(compiled.last, shell.user_global_ns, shell.user_ns)  # noqa: S307
    return None


def show_failure_cleanly(shell: Any, error: BaseException, filename: str) -> None:
    """Make IPython show ``error``'s traceback from the cell's own frames, as without a magic.

    The magic re-raises the error so the cell fails (nbclient and papermill see it); IPython
    would then print the magic's plumbing first. A one-shot custom exception handler trims it.
    Someone else's handler is left alone (the traceback is then shown with the plumbing).
    """
    if shell.custom_exceptions:
        return

    def handler(shell_: Any, etype: type, value: BaseException, tb: TracebackType, tb_offset=None):
        restore_traceback_handler(shell_)
        if value is error and isinstance(value, SyntaxError):
            return shell_.showsyntaxerror()
        trimmed = _cell_traceback(tb, filename) if value is error else None
        shell_.showtraceback((etype, value, trimmed or tb), tb_offset=0 if trimmed else tb_offset)

    shell.set_custom_exc((type(error),), handler)
    shell._jupyter_mlops_custom_exc = True


def restore_traceback_handler(shell: Any) -> None:
    """Remove the handler :func:`show_failure_cleanly` installed, if it is still there."""
    if getattr(shell, "_jupyter_mlops_custom_exc", False):
        shell._jupyter_mlops_custom_exc = False
        shell.set_custom_exc((), None)


def _cell_traceback(tb: TracebackType | None, filename: str) -> TracebackType | None:
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return tb


# -- runs -------------------------------------------------------------------------------------
def start(
    name: str | None,
    experiment: str | None,
    tags: dict[str, str],
    nested: bool = False,
    system_metrics: bool = False,
) -> fluent.ActiveRun:
    """Start a run; our errors become ``UsageError`` (nothing ran yet)."""
    from IPython.core.error import UsageError

    if nested and experiment is None:
        parent = fluent.active_run()
        experiment = parent.experiment if parent is not None else None
    try:
        return fluent.start_run(
            name=name,
            experiment=experiment,
            tags=tags,
            nested=nested,
            system_metrics=system_metrics or None,
        )
    except MlopsError as e:
        raise UsageError(str(e)) from e


def finish(run: fluent.ActiveRun, seconds: float, error: BaseException | None = None) -> str:
    """End ``run`` with its duration (and the error, if any); returns the final status."""
    store = get_store()
    now = int(time.time() * 1000)
    store.log_metric_points(run.id, [("duration_s", round(seconds, 6), 0, now)])
    status = "FINISHED"
    if error is not None:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        message = f"{type(error).__name__}: {error}"[: fluent.MAX_PARAM_CHARS]
        store.set_tags(run.id, {"mlops.error": message})
    fluent.end_run(status, run_id=run.id)
    return status


def log_variables(
    run: fluent.ActiveRun,
    params: list[str],
    metrics: list[str],
    user_ns: Mapping[str, Any],
    report_missing: bool = True,
) -> list[str]:
    """Log the named variables' values; returns one short problem text per variable not logged."""
    problems: list[str] = []
    if (params or metrics) and fluent.active_run() is not run:
        return [f"-p/-m: the run {run.name} was ended inside the cell"]
    for flag, names, log in (("-p", params, _log_param_var), ("-m", metrics, _log_metric_var)):
        for name in names:
            found, value = lookup(user_ns, name)
            if not found:
                if report_missing:
                    problems.append(f"{flag} {name} (no variable {name!r} after the cell ran)")
                continue
            problem = log(name, value)
            if problem:
                problems.append(f"{flag} {name} ({problem})")
    return problems


def lookup(namespace: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """``(True, value)`` of ``a`` or ``a.b.c`` in the namespace, else ``(False, None)``."""
    head, *attrs = dotted.split(".")
    if head not in namespace:
        return False, None
    value = namespace[head]
    for attr in attrs:
        try:
            value = getattr(value, attr)
        except Exception:
            return False, None
    return True, value


def _log_param_var(name: str, value: Any) -> str | None:
    params = _flatten(value) if isinstance(value, Mapping) else {name: value}
    try:
        fluent.log_params(params)
    except MlopsError as e:
        return str(e)
    return None


def _flatten(mapping: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def metric_value(value: Any) -> tuple[float | None, str | None]:
    """``(number, None)`` for a value a metric can hold, else ``(None, why it cannot)``."""
    from jupyter_mlops.tracking.autolog_sklearn import as_number

    try:
        number = as_number(value)
    except OverflowError:
        digits = len(str(abs(value))) if isinstance(value, int) else None
        size = f"an integer of {digits:,} digits" if digits else type(value).__name__
        return None, f"out of range for a 64-bit float: {size}"
    except (ArithmeticError, ValueError, TypeError) as e:
        return None, f"cannot be read as a number: {type(e).__name__}"
    return number, None if number is not None else f"not a number: {type(value).__name__}"


def _log_metric_var(name: str, value: Any) -> str | None:
    number, problem = metric_value(value)
    if problem and problem.startswith(("out of range", "cannot be read")):
        return problem
    try:
        if number is not None:
            fluent.log_metric(name, number)
        elif isinstance(value, Mapping):
            return _log_metric_dict(value)
        elif _is_number_sequence(value):
            for step, item in enumerate(value):
                fluent.log_metric(name, float(item), step=step)
        else:
            return f"not a number: {type(value).__name__}"
    except MlopsError as e:
        return str(e)
    return None


def _log_metric_dict(values: Mapping[Any, Any]) -> str | None:
    read = {str(k): metric_value(v) for k, v in _flatten(values).items()}
    fluent.log_metrics({k: number for k, (number, _) in read.items() if number is not None})
    skipped = [f"{k}: {why}" for k, (number, why) in read.items() if number is None]
    return f"skipped {'; '.join(skipped[:3])}" if skipped else None


def _is_number_sequence(value: Any) -> bool:
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        return False
    try:
        return 0 < len(value) <= 100_000 and all(metric_value(v)[0] is not None for v in value)
    except Exception:
        return False


# -- output -----------------------------------------------------------------------------------
def quiet() -> bool:
    """``JUPYTER_MLOPS_QUIET=1`` silences the one-line summaries (warnings still show)."""
    return os.environ.get("JUPYTER_MLOPS_QUIET", "").strip().lower() in ("1", "true", "yes", "on")


def say(line: str, run: fluent.ActiveRun | None = None) -> None:
    """Show one summary line unless quiet; with ``run``, its name links to the run page.

    The line is a display bundle: ``text/plain`` (what a terminal prints) and ``text/html``
    whose run name is a link that the JupyterLab extension opens as the run's tab.
    """
    if quiet():
        return
    if run is None or not run.name or f"run {run.name} " not in line:
        print(line)
        return
    from IPython.display import display

    from jupyter_mlops.jupyter.panels import esc, run_link

    before, after = line.split(f"run {run.name} ", 1)
    html = f"{esc(before)}run {run_link(run.id, run.name)} {esc(after)}"
    display({"text/plain": line, "text/html": f'<div class="jp-mlops-summary">{html}</div>'},
            raw=True)  # fmt: skip


def warn_line(problems: list[str]) -> None:
    """One warning line on stderr listing what was not logged."""
    if problems:
        print(f"⚠ jupyter_mlops did not log: {'; '.join(problems)}", file=sys.stderr)


def summary(symbol: str, run: fluent.ActiveRun, *details: str) -> str:
    """``✓ run swift-owl-42 · 3f2a91c0 · Default · accuracy=0.953 · 0.41s``."""
    parts = [f"{symbol} run {run.name}", run.id[:8], run.experiment, *[d for d in details if d]]
    return " · ".join(parts)


def headline(run_id: str, preferred: list[str]) -> str:
    """The few metrics worth a glance: ``-m`` ones first, then others, then training ones."""
    metrics = {k: v for k, v in fluent.get_run(run_id).metrics.items() if k != "duration_s"}
    chosen = [k for k in preferred if k in metrics]
    chosen += [k for k in metrics if k not in chosen and not _is_training(k)]
    chosen += [k for k in _TRAINING_HEADLINES if k in metrics]
    return " ".join(f"{k}={_number(metrics[k])}" for k in chosen[:HEADLINE_METRICS])


def _is_training(key: str) -> bool:
    return key.startswith("training_") or ".training_" in key or key.startswith("model-")


def _number(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4g}"


def duration(seconds: float) -> str:
    """``0.41s``, ``12.3s``, ``4m05s``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s"


# -- session runs (%mlops_track start ... stop) -----------------------------------------------
@dataclass
class SessionRun:
    """A run open across cells: every cell run while it is open is recorded."""

    run: fluent.ActiveRun
    autolog: bool = True
    started: float = field(default_factory=time.perf_counter)
    cells: list[dict[str, Any]] = field(default_factory=list)

    def record(self, result: Any) -> None:
        """Remember one executed cell (source, execution count, result or error)."""
        source = getattr(getattr(result, "info", None), "raw_cell", None)
        if not isinstance(source, str) or not source.strip():
            return
        outputs = []
        if getattr(result, "result", None) is not None:
            outputs.append({"kind": "result", "text": _short_repr(result.result)})
        error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        if error is not None:
            outputs.append({"kind": "error", "ename": type(error).__name__, "evalue": str(error)})
        count = getattr(result, "execution_count", None)
        self.cells.append({"source": source, "count": count, "outputs": outputs})


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as e:
        text = f"<unrepresentable {type(value).__name__}: {e}>"
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "…"


def history_notebook(cells: list[dict[str, Any]]) -> str:
    """The recorded cells as an nbformat v4 notebook (JSON text)."""
    import nbformat
    from nbformat import v4

    notebook = v4.new_notebook()
    notebook.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python", "version": sys.version.split()[0]},
    )
    for cell in cells:
        outputs = [_output(o, cell["count"]) for o in cell["outputs"]]
        notebook.cells.append(
            v4.new_code_cell(cell["source"], execution_count=cell["count"], outputs=outputs)
        )
    return nbformat.writes(notebook, version=4)


def _output(output: dict[str, Any], count: int | None) -> Any:
    from nbformat import v4

    if output["kind"] == "error":
        return v4.new_output("error", ename=output["ename"], evalue=output["evalue"], traceback=[])
    return v4.new_output(
        "execute_result", data={"text/plain": output["text"]}, execution_count=count
    )


def save_history(store: Any, run_id: str, cells: list[dict[str, Any]]) -> None:
    """Write the session-history notebook artifact (runs on the capture thread)."""
    from jupyter_mlops.tracking.context import put_text

    put_text(store, run_id, HISTORY_ARTIFACT, history_notebook(cells))
