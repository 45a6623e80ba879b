"""``%%mlops_sweep`` in an IPython shell.

Its panel, ``%mlops_register`` of the best trial, and a sweep cell exported to a pipeline step.
"""

from __future__ import annotations

import nbformat
import pytest
from IPython.core.error import UsageError

import jupyter_mlops as mlops
from jupyter_mlops.jupyter.panels_sweep import SweepPanel

DATA = """
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(300, n_features=8, random_state=0)
X_train, X_val, y_train, y_val = X[:200], X[200:], y[:200], y[200:]
"""
SWEEP = """%%mlops_sweep -e exp -n {name} --trials 6 -m val_acc --direction maximize -s 'C=loguniform(0.001, 10)' -s 'solver=choice("lbfgs", "liblinear")' --seed 0 {extra}
model = LogisticRegression(C=C, solver=solver).fit(X_train, y_train)
val_acc = model.score(X_val, y_val)
"""  # noqa: E501


def run(shell, code):
    result = shell.run_cell(code)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result


def test_the_cell_is_the_objective(shell, capsys):
    run(shell, DATA)
    run(shell, SWEEP.format(name="lr", extra=""))
    out = capsys.readouterr().out

    result_line = [line for line in out.splitlines() if line.startswith("✓ sweep lr")]
    assert result_line and "6 complete" in result_line[0] and "best val_acc=" in result_line[0]
    best = mlops.best_trial("lr")
    assert shell.user_ns["C"] == pytest.approx(float(best.params["C"]))  # the best values stay
    assert shell.user_ns["solver"] == best.params["solver"]
    assert shell.user_ns["val_acc"] == best.metrics["val_acc"]
    assert len(mlops.search_runs("exp")) == 7


def test_usage_errors_are_one_line(shell):
    run(shell, "x = 1")
    for line, message in [
        ("-m m --trials 2 -s 'a=int(1, 2)'", "the following arguments are required: -n"),
        ("-n s --trials 2 -m m -s 'a=foo(1)'", "Unknown space 'foo'"),
        ("-n s --trials 2 -m m", "needs a search space"),
        ("-n s --trials 2 -m m --jobs 0 -s 'a=int(1, 2)'", "--jobs must be a positive integer"),
        ("-n s --trials 2 -m m --sampler bo -s 'a=int(1, 2)'", "invalid choice: 'bo'"),
    ]:
        with pytest.raises(UsageError, match=message):
            shell.run_cell_magic("mlops_sweep", line, "m = a")
    assert len(mlops.search_runs()) == 0  # nothing started


def test_without_optuna_the_magic_says_how_to_install(shell, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "optuna", None)
    with pytest.raises(UsageError, match=r"pip install 'jupyter-mlops\[sweep\]'"):
        shell.run_cell_magic("mlops_sweep", "-n s --trials 2 -m m -s 'a=int(1, 2)'", "m = a")


def test_failing_trials_are_reported_and_the_sweep_goes_on(shell, capsys):
    cell = (
        "%%mlops_sweep -n broken --trials 3 -m m --sampler grid -s 'a=int(1, 3)'\nm = a / (a - 2)"
    )
    run(shell, cell)
    captured = capsys.readouterr()
    assert "✓ sweep broken · Default · finished · 2 complete 1 failed" in captured.out
    states = {t.params["a"]: t.state for t in mlops.load_sweep("broken").trials}
    assert states == {"1": "complete", "2": "failed", "3": "complete"}
    assert "trial" in captured.err and "ZeroDivisionError: division by zero" in captured.err

    run(shell, "%%mlops_sweep -n dead --trials 2 -m m -s 'a=int(1, 3)'\nm = undefined + a")
    captured = capsys.readouterr()
    assert "✗ sweep dead · Default · finished · 2 failed" in captured.out
    assert "2 trials failed, the last 1 failed: NameError: name 'undefined' is not defined" in (
        captured.err
    )


def test_the_panel_shows_best_history_and_trials(shell):
    run(shell, DATA)
    run(shell, SWEEP.format(name="panel", extra=""))
    panel = SweepPanel("panel", "exp")
    view = panel.view
    assert view.best is not None and len(view.trials) == 6
    assert "Best so far" in panel.header.value and f"{view.best.value:.4g}" in panel.header.value
    assert set(panel.pngs) == {"history", "parallel", "importance"}
    assert all(bytes(panel.images[k].value).startswith(b"\x89PNG") for k in panel.pngs)
    html = panel.static_html()
    assert html.count("data:image/png;base64") == 3 and "<table" in html
    assert f'<td class="jp-mlops-num jp-mlops-best">{view.best.value:.4g}</td>' in html

    panel.compare()  # the three best trials are selected: the compare panel opens below
    best_three = [t.run_id for t in sorted(view.trials, key=lambda t: -t.value)[:3]]
    assert [r["run_id"] for r in panel.compared.runs] == list(panel.picker.value)
    assert set(panel.picker.value) == set(best_three)


def test_user_strings_are_escaped_in_the_panel(shell):
    run(shell, "%%mlops_sweep -n esc --trials 2 -m m -s 'tag=choice(\"<b>x</b>\")'\nm = len(tag)")
    html = SweepPanel("esc").static_html()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_register_takes_the_best_trial(shell, capsys):
    run(shell, DATA)
    run(shell, SWEEP.format(name="reg", extra="--autolog"))
    run(shell, "import jupyter_mlops as mlops\nbest = mlops.best_trial('reg')")
    run(shell, "%mlops_register best -n churn")
    out = capsys.readouterr().out
    best = shell.user_ns["best"]
    assert f"✓ registered churn v1 · models:/churn/1 · run {best.name}" in out
    assert mlops.get_model_version("churn", 1).run_id == best.id

    run(shell, "%%mlops_sweep -n nomodel --trials 1 -m m -s 'a=int(1, 2)'\nm = a")
    run(shell, "plain = mlops.best_trial('nomodel')")
    with pytest.raises(UsageError, match="logged no model"):
        shell.run_line_magic("mlops_register", "plain -n other")


def test_a_sweep_cell_exports_to_a_pipeline_step(tracking_store, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_mlops"),
        nbformat.v4.new_code_cell(DATA),
        nbformat.v4.new_code_cell(SWEEP.format(name="piped", extra="")),
        nbformat.v4.new_code_cell("final = LogisticRegression(C=C, solver=solver).fit(X, y)"),
    ]
    for cell, step in zip(nb.cells[1:], ("data", "sweep", "final"), strict=True):
        cell.metadata["tags"] = [f"step:{step}"] if step != "data" else ["step:data"]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)

    mlops.export_notebook(str(path), "python")
    source = (tmp_path / "nb_python" / "steps" / "sweep.py").read_text()
    assert "def _mlops_sweep_trial(C, solver):" in source
    run_ = mlops.run_pipeline(str(tmp_path / "nb_python"))
    sweep_step = next(s for s in run_.steps if s.name == "sweep")
    best = mlops.best_trial("piped")
    assert sweep_step.outputs.keys() >= {"C", "solver"}
    assert mlops.load_sweep("piped").counts() == {"complete": 6}
    assert best.params["solver"] in ("lbfgs", "liblinear")


def test_the_cells_last_expression_runs_in_every_trial(shell):
    run(shell, "calls = []")
    run(shell, "%%mlops_sweep -n last --trials 3 -m m -s 'a=int(1, 9)'\nm = a\ncalls.append(a)")
    assert len(shell.user_ns["calls"]) == 3
