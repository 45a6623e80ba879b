"""``%mlops_validate`` and its panel, in an in-process IPython shell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

import jupyter_mlops as mlops
from jupyter_mlops.jupyter.panels_validate import ValidationPanel

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture()
def frames():
    rng = np.random.default_rng(3)
    train = pd.DataFrame(
        {"age": rng.integers(18, 80, 200), "city": rng.choice(["a", "b"], 200), XSS: 1.0}
    )
    live = train.copy()
    live.loc[[4, 8], "age"] = [130, 150]
    live.loc[6, "city"] = XSS
    return train, live


def test_validate_magic_shows_a_panel_with_failed_checks_and_rows(shell, frames, monkeypatch):
    train, live = frames
    contract = mlops.profile(train)
    shell.user_ns.update(live=live, contract=contract)
    displayed = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **k: displayed.append(obj))
    shell.run_line_magic("mlops_validate", "live --contract contract")
    (panel,) = displayed
    assert isinstance(panel, ValidationPanel) and not panel.report.passed
    assert [(c.column, c.check) for c in panel.report.failures] == [
        ("age", "range"),
        ("city", "categories"),
    ]
    assert panel.show_filter.value == "Failed"
    assert panel.check_picker.options == (("age: range", 3), ("city: categories", 6))
    assert "130" in panel.rows_html.value and "offending rows" in panel.rows_html.value
    panel.check_picker.value = 6
    assert "&lt;img src=x" in panel.rows_html.value and "<img src=x" not in panel.rows_html.value
    panel.show_filter.value = "All"
    assert panel.table_html.value.count("<tr>") == len(panel.report.checks) + 1
    page = panel._repr_mimebundle_()["text/html"]
    assert "Failed" in page and f"range [18, {train.age.max()}]" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_validate_magic_reads_files_and_model_versions(shell, frames, tmp_path, monkeypatch):
    from sklearn.linear_model import LinearRegression

    train, live = frames
    path = mlops.profile(train).save(tmp_path / "contract.yaml")
    mlops.register_model(
        LinearRegression().fit(train[["age"]], train[XSS]), "ages", reference_data=train[["age"]]
    )
    shell.user_ns["live"] = live
    displayed = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **k: displayed.append(obj))
    shell.run_line_magic("mlops_validate", f"live --contract {path}")
    shell.run_line_magic("mlops_validate", "live --against models:/ages/1")
    from_file, from_model = (p.report for p in displayed)
    assert len(from_file.failures) == 2 and from_file.contract_source == path
    assert [c.column for c in from_model.failures] == ["age"]
    assert from_model.contract_source == "models:/ages/1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("live", "Give the contract with --contract"),
        ("live --contract c.yaml --against models:/x/1", "Give the contract with --contract"),
        ("nothing --contract c.yaml", "No variable named 'nothing'"),
        ("live --contract missing.yaml", "No contract file missing.yaml"),
        ("live --against churn", "--against takes a model URI"),
        ("live --against models:/nope/1", "No registered model"),
        ("live --bogus", "unrecognized arguments"),
    ],
)
def test_validate_magic_mistakes_are_one_line(shell, frames, line, message):
    shell.user_ns["live"] = frames[1]
    with pytest.raises(UsageError, match=message) as info:
        shell.run_line_magic("mlops_validate", line)
    assert "\n" not in str(info.value)


def test_passing_report_panel_says_so(frames):
    train, _ = frames
    panel = ValidationPanel(mlops.validate(train, mlops.profile(train)), train)
    assert panel.show_filter.value == "All" and panel.check_picker.layout.display == "none"
    assert "Passed" in panel.static_html() and "Every check passed." in panel.static_html()


def test_deploy_magic_refuses_an_unknown_on_violation(shell):
    with pytest.raises(UsageError, match="invalid choice: 'drop'") as info:
        shell.run_line_magic("mlops_deploy", "models:/churn/1 --on-violation drop")
    assert "\n" not in str(info.value)
    assert "--on-violation reject" in shell.find_line_magic("mlops_deploy").__doc__
