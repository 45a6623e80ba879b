"""``%%mlops_track`` and ``%mlops_track start|stop|status`` in a real IPython shell."""

from __future__ import annotations

import json
import os
import re

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from magic_fixtures import runs, top_runs, tracking_magics

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.jupyter import magics
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking import fluent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^✓ run (\S+) · ([0-9a-f]{8}) · (.+?) · (.*)(\d+\.\d\ds)$")


def artifact_text(run: fluent.Run, path: str) -> str:
    with open(get_store().artifact_file(run.id, path), encoding="utf-8") as fh:
        return fh.read()


def cell(ip, source: str):
    """Run a cell as the notebook would (hooks, display, tracebacks)."""
    return ip.run_cell(source, store_history=True)


# -- %%mlops_track -------------------------------------------------------------------------------
def test_cell_is_one_run_with_code_duration_variables_and_tags(shell, capsys):
    result = cell(
        shell,
        "%%mlops_track -e churn -n first -p C config -m accuracy losses -t team=risk note='a b'\n"
        "C = 0.5\nconfig = {'depth': 3, 'opt': {'lr': 0.1}}\naccuracy = 0.953\n"
        "losses = [0.9, 0.5, 0.25]\n",
    )
    assert result.success
    (run,) = runs()
    assert (run.name, run.experiment, run.status) == ("first", "churn", "FINISHED")
    assert run.params == {"C": "0.5", "depth": "3", "opt.lr": "0.1"}
    assert run.metrics["accuracy"] == 0.953
    assert run.metrics["losses"] == 0.25
    assert [p for p in fluent.get_metric_history(run.id, "losses")["value"]] == [0.9, 0.5, 0.25]
    assert 0 <= run.metrics["duration_s"] < 5
    assert run.tags["team"] == "risk" and run.tags["note"] == "a b"
    assert run.tags["mlops.python_version"].count(".") == 2
    assert "mlops.platform" in run.tags
    assert artifact_text(run, "code/cell.py").startswith("C = 0.5\n")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    match = LINE.match(out[0])
    assert match, out
    assert match.group(1, 2, 3) == ("first", run.id[:8], "churn")
    assert match.group(4).startswith("accuracy=0.953 losses=0.25 · ")


def test_rerunning_a_tracked_cell_makes_a_new_run_each_time(shell):
    for _ in range(2):
        assert cell(shell, "%%mlops_track -p n\nn = 1\n").success
    first, second = runs()
    assert first.id != second.id
    assert first.status == second.status == "FINISHED"
    assert first.params == second.params == {"n": "1"}


def test_last_expression_is_displayed_and_a_semicolon_silences_it(shell, capsys):
    result = cell(shell, "%%mlops_track\nx = 20\nx + 1\n")
    assert result.result == 21
    assert cell(shell, "%%mlops_track\nx + 1;\n").result is None
    assert "Out[" in capsys.readouterr().out


def test_an_exception_marks_the_run_failed_and_reaches_the_user(shell, capsys):
    result = cell(shell, "%%mlops_track -n boom\ndef f():\n    return 1 / 0\n\nf()\n")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    (run,) = runs()
    assert run.status == "FAILED"
    assert run.tags["mlops.error"] == "ZeroDivisionError: division by zero"
    assert "duration_s" in run.metrics
    out = capsys.readouterr().out
    assert out.startswith(f"✗ run boom · {run.id[:8]} · Default · FAILED: ZeroDivisionError")
    assert "ZeroDivisionError" in out and "----> 5 f()" in out and "return 1 / 0" in out
    assert "run_cell_magic" not in out  # the usual traceback, not the magic's plumbing
    assert not shell.custom_exceptions  # the one-shot handler is gone
    assert cell(shell, "1 / 0").error_in_exec is not None  # later errors show as usual
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_ctrl_c_marks_the_run_killed(shell):
    result = cell(shell, "%%mlops_track\nraise KeyboardInterrupt\n")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert runs()[0].status == "KILLED"


def test_a_missing_variable_is_one_warning_line_and_the_run_is_kept(shell, capsys):
    assert cell(shell, "%%mlops_track -p a missing -m b nope\na = 1\nb = 'text'\n").success
    (run,) = runs()
    assert run.status == "FINISHED" and run.params == {"a": "1"}
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 1
    (warning,) = captured.err.strip().splitlines()
    assert warning.startswith("⚠ jupyter_mlops did not log: ")
    for part in ("-p missing (no variable 'missing'", "-m b (not a number: str)", "-m nope"):
        assert part in warning


def test_values_that_cannot_be_recorded_are_named_and_the_run_is_kept(shell, capsys):
    source = (
        "%%mlops_track -m big scores -p huge ok\n"
        "big = 10 ** 1000\nscores = {'acc': 0.9, 'wild': -(10 ** 400)}\n"
        "huge = 10 ** 5000\nok = 3\n"
    )
    assert cell(shell, source).success
    (run,) = runs()
    assert run.status == "FINISHED" and run.params == {"ok": "3"}
    assert run.metrics["acc"] == 0.9 and "big" not in run.metrics and "wild" not in run.metrics
    (warning,) = capsys.readouterr().err.strip().splitlines()
    assert "-m big (out of range for a 64-bit float: an integer of 1,001 digits)" in warning
    assert "-m scores (skipped wild: out of range for a 64-bit float" in warning
    assert "-p huge (The param 'huge' cannot be written as text" in warning


def test_a_syntax_error_makes_no_run(shell, capsys):
    result = cell(shell, "%%mlops_track\nx = (\n")
    assert isinstance(result.error_in_exec, SyntaxError)
    assert runs() == []
    out = capsys.readouterr().out
    assert "SyntaxError" in out and "Traceback" not in out


def test_ipython_syntax_inside_the_cell_works(shell):
    assert cell(shell, "%%mlops_track -m n\nout = !echo hi\nn = len(out)\n").success
    assert runs()[0].metrics["n"] == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-t bad", "Bad tag 'bad': write -t KEY=VALUE"),
        ("-t =v", "Bad tag '=v'"),
        ("-e ''", "The experiment name is empty"),
        ("start", "'start' is for the line magic"),
        ("--bogus", "unrecognized arguments: --bogus"),
        ("-p 'x[0]'", "-p/-m take variable names"),
        ('-n "open', "cannot split the arguments"),
    ],
)
def test_cell_magic_mistakes_are_usage_errors(shell, line, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        shell.run_cell_magic("mlops_track", line, "x = 1\n")
    assert runs() == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "needs start, stop or status"),
        ("begin", "invalid choice: 'begin'"),
        ("status -e x", "%mlops_track status does not take -e"),
        ("start -p x", "%mlops_track start does not take -p"),
        ("stop", "No %mlops_track run is open"),
        ("start -e ' '", "The experiment name is empty"),
    ],
)
def test_line_magic_mistakes_are_usage_errors(shell, line, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        shell.run_line_magic("mlops_track", line)


def test_our_errors_become_chained_usage_errors(shell):
    with pytest.raises(UsageError, match="tag key") as info:
        shell.run_cell_magic("mlops_track", '-t "a\tb=1"', "x = 1\n")
    assert isinstance(info.value.__cause__, InvalidInput)


def test_a_usage_error_is_one_line_without_traceback(shell, capsys):
    result = cell(shell, "%%mlops_track -t oops\nx = 1\n")
    assert isinstance(result.error_in_exec, UsageError)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "UsageError: Bad tag 'oops'" in text and "Traceback" not in text


def test_help_shows_usage_and_examples(shell):
    doc = shell.find_line_magic("mlops_track").__doc__
    assert doc.lstrip().startswith("::") or "%mlops_track [-e EXP]" in doc
    for text in ("[-p VAR [VAR ...]]", "[-t KEY=VALUE [KEY=VALUE ...]]", "--no-autolog"):
        assert text in doc
    assert "Track a cell, or a span of cells, as one run." in doc
    assert "Examples" in doc and "In [2]: %%mlops_track" in doc


def test_quiet_mode_prints_nothing(shell, capsys, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_QUIET", "1")
    assert cell(shell, "%%mlops_track\nx = 1\n").success
    assert capsys.readouterr().out == ""
    assert len(runs()) == 1


def test_the_notebook_path_and_python_context_are_tagged(shell, monkeypatch, tmp_path):
    notebook = tmp_path / "work" / "train.ipynb"
    notebook.write_text("{}")
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK", str(notebook))
    assert cell(shell, "%%mlops_track\nx = 1\n").success
    (run,) = runs()
    assert run.tags["mlops.source.name"] == str(notebook)
    assert run.tags["mlops.source.type"] == "NOTEBOOK"
    assert "ipython==" in artifact_text(run, "environment/requirements.txt").lower()


# -- %mlops_track start | stop | status -----------------------------------------------------------
def test_start_stop_records_every_cell_as_a_session_history_notebook(shell, capsys):
    cell(shell, "%mlops_track start -e explore -n session -t kind=eda")
    out = capsys.readouterr().out.strip()
    assert re.match(r"^● run session · [0-9a-f]{8} · explore · recording cells", out)
    cell(shell, "a = 6 * 7\na")
    cell(shell, "b = a / 0")
    capsys.readouterr()
    cell(shell, "%mlops_track status")
    assert re.match(r"^● run session · .* · 3 cells recorded · ", capsys.readouterr().out)
    cell(shell, "%mlops_track stop -m a")
    line = capsys.readouterr().out.strip()
    assert re.match(r"^✓ run session · [0-9a-f]{8} · explore · a=42 · 4 cells · \d", line), line
    (run,) = runs()
    assert (run.status, run.experiment, run.tags["kind"]) == ("FINISHED", "explore", "eda")
    notebook = nbformat.reads(artifact_text(run, "code/session_history.ipynb"), as_version=4)
    nbformat.validate(notebook)
    sources = [c.source for c in notebook.cells]
    assert sources == [
        "%mlops_track start -e explore -n session -t kind=eda",
        "a = 6 * 7\na",
        "b = a / 0",
        "%mlops_track status",
    ]
    assert notebook.cells[1].outputs[0]["data"]["text/plain"] == "42"
    assert notebook.cells[2].outputs[0]["ename"] == "ZeroDivisionError"
    assert tracking_magics(shell).session is None


def test_a_new_start_finishes_the_open_run_with_a_notice(shell, capsys):
    cell(shell, "%mlops_track start -n one")
    cell(shell, "x = 1")
    capsys.readouterr()
    cell(shell, "%mlops_track start -n two")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    assert re.match(r"^jupyter_mlops: finished run 'one' \([0-9a-f]{8}\) before starting", out[0])
    assert out[1].startswith("● run two")
    cell(shell, "%mlops_track stop")
    one, two = runs()
    assert one.status == two.status == "FINISHED"
    assert "code/session_history.ipynb" in one.artifacts
    assert "code/session_history.ipynb" in two.artifacts


def test_status_without_an_open_run(shell, capsys):
    cell(shell, "%mlops_track status")
    assert capsys.readouterr().out.startswith("No %mlops_track run is open")


def test_a_tracked_cell_inside_a_start_run_is_nested_in_its_experiment(shell):
    cell(shell, "%mlops_track start -e outer -n parent")
    assert cell(shell, "%%mlops_track -m y\ny = 2\n").success
    assert cell(shell, "%%mlops_track -m y\ny = 3\n").success
    cell(shell, "%mlops_track stop")
    parent, *children = runs()
    assert parent.name == "parent" and len(children) == 2
    assert all(c.parent_run_id == parent.id and c.experiment == "outer" for c in children)
    assert [c.metrics["y"] for c in children] == [2, 3]


def test_unload_finishes_the_open_run_and_removes_hooks_and_magics(shell):
    magics.load(shell)  # idempotent: still one set of hooks
    hooks = [cb for cb in shell.events.callbacks["post_run_cell"] if "CellHooks" in repr(cb)]
    assert len(hooks) == 1
    cell(shell, "%mlops_track start")
    magics.unload(shell)
    assert runs()[0].status == "FINISHED"
    assert not [cb for cb in shell.events.callbacks["post_run_cell"] if "CellHooks" in repr(cb)]
    assert shell.find_line_magic("mlops_track") is None
    magics.load(shell)  # for the fixture's own unload


def test_a_failing_hook_is_a_warning_and_never_breaks_the_cell(shell, monkeypatch, capsys):
    def broken():
        raise RuntimeError("store on fire")

    monkeypatch.setattr(fluent, "flush_soon", broken)  # what a cell's end calls
    with pytest.warns(RuntimeWarning, match="post_run_cell hook failed.*store on fire"):
        result = cell(shell, "value = 41 + 1")
    assert result.success and shell.user_ns["value"] == 42
    assert "Error in callback" not in capsys.readouterr().out


def test_a_failing_pre_run_cell_hook_is_a_warning(shell, monkeypatch):
    from jupyter_mlops.tracking import autolog

    cell(shell, "%mlops_track start")

    def broken(*args, **kwargs):
        raise RuntimeError("no autolog today")

    monkeypatch.setattr(autolog, "autolog", broken)
    with pytest.warns(RuntimeWarning, match="pre_run_cell hook failed"):
        result = cell(shell, "z = 5")
    assert result.success and shell.user_ns["z"] == 5
    cell(shell, "%mlops_track stop")


# -- property: random argument lines ---------------------------------------------------------------
TOKENS = [
    "-e", "-n", "-p", "-m", "-t", "--no-autolog", "--experiment", "--name", "--param", "--tag",
    "start", "stop", "status", "x", "y", "s", "a.b", "x[0]", "1x", "a=b", "=b", "k=", "k==v",
    "''", '"', "'", "exp one", '"exp two"', "-x", "--", "-", "é", "\t", "-ex", "-nname",
]  # fmt: skip
LINES = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(TOKENS), max_size=7).map(" ".join),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(line=LINES)
def test_random_argument_lines_give_a_run_or_a_usage_error(shell, line):
    before = len(top_runs())
    try:
        shell.run_cell_magic("mlops_track", line, "x = 1\ny = 2.5\ns = 'text'\n")
    except UsageError as e:
        assert "\n" not in str(e).strip()
        assert len(top_runs()) == before
    else:
        assert len(top_runs()) == before + 1
    try:
        shell.run_line_magic("mlops_track", line)
    except UsageError:
        pass
    session = tracking_magics(shell).session
    if session is not None:
        shell.run_line_magic("mlops_track", "stop")
    assert fluent.active_run() is None
    json.dumps([r.name for r in top_runs()])


# -- a real kernel ---------------------------------------------------------------------------
def test_in_a_real_kernel_a_failing_tracked_cell_fails_the_notebook(
    store_dir, tmp_path, monkeypatch
):
    import nbclient  # a runtime dependency: missing means a broken install, not a skip
    from nbclient.exceptions import CellExecutionError

    path = tmp_path / "work" / "train.ipynb"
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK", str(path))
    monkeypatch.setenv("PYTHONPATH", ROOT)
    notebook = nbformat.v4.new_notebook()
    sources = [
        "%load_ext jupyter_mlops",
        "%%mlops_track -m x\nx = 1\nx",
        "%%mlops_track\ndef f():\n    return 1 / 0\nf()",
    ]
    notebook.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    client = nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    ok, failed = runs()
    assert (ok.status, ok.metrics["x"], failed.status) == ("FINISHED", 1, "FAILED")
    assert ok.tags["mlops.source.name"] == str(path)
    assert ok.tags["mlops.source.type"] == "NOTEBOOK"
    # The summary is a display bundle: the text line, and HTML whose run name links the page.
    (line,) = [o for o in notebook.cells[1].outputs if o.output_type == "display_data"]
    assert LINE.match(line.data["text/plain"].strip())
    assert f'href="#jupyter-mlops/run/{ok.id}"' in line.data["text/html"]
    error = notebook.cells[2].outputs[-1]
    assert error.output_type == "error" and error.ename == "ZeroDivisionError"
    assert "run_cell_magic" not in "\n".join(error.traceback)


def test_a_store_failure_after_the_cell_is_a_warning_and_the_value_still_returned(
    shell, monkeypatch
):
    from jupyter_mlops.jupyter import tracked_run

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tracked_run, "finish", broken)
    with pytest.warns(RuntimeWarning, match="recording the run failed.*disk full"):
        result = cell(shell, "%%mlops_track\n40 + 2\n")
    assert result.success and result.result == 42
    assert fluent.active_run() is None
    assert runs()[0].status == "FINISHED"
