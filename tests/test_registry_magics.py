"""``%mlops_register``, ``%mlops_models``, ``%mlops_promote`` and the registry panel."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import jupyter_mlops as mlops
from jupyter_mlops.jupyter.panels_registry import ModelsPanel

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def models():
    """Two fitted models (fitted once: fitting is the slow part) and evaluation data."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return {
        "good": good.fit(X_train, y_train),
        "weak": DecisionTreeClassifier(max_depth=1).fit(X_train, y_train),
        "X_test": X_test,
        "y_test": y_test,
    }


@pytest.fixture
def trained(shell, models):
    shell.user_ns.update(models)
    return shell


def test_register_a_variable_with_alias_and_description(trained, capsys):
    trained.run_line_magic("mlops_register", 'good -n cancer -a staging -d "baseline model"')
    assert "registered cancer v1 as @staging" in capsys.readouterr().out
    version = mlops.get_model_version("cancer", 1)
    assert version.description == "baseline model" and version.aliases == ["staging"]
    trained.run_line_magic("mlops_register", "weak")  # name defaults to the variable
    assert mlops.get_model_version("weak", 1).version == 1


def test_register_a_runs_uri(trained):
    with mlops.start_run() as run:
        uri = mlops.log_model(trained.user_ns["good"])
    trained.run_line_magic("mlops_register", f"{uri} -n from-uri")
    assert mlops.get_model_version("from-uri", 1).run_id == run.id


def test_promote_passes_then_refuses_the_worse_model(trained, capsys):
    trained.run_line_magic("mlops_register", "good -n cancer")
    trained.run_line_magic("mlops_register", "weak -n cancer")
    trained.run_line_magic(
        "mlops_promote", "cancer/1 production --check 'accuracy>=0.9' --data X_test y_test"
    )
    assert "promoted to @production" in capsys.readouterr().out
    with pytest.raises(
        UsageError, match=r"refused: accuracy>=current-0\.01 \(0\.\d+ vs current v1"
    ):
        trained.run_line_magic(
            "mlops_promote",
            "cancer/2 production --check 'accuracy>=current-0.01' --data X_test y_test",
        )
    assert mlops.alias_holder("cancer", "production") == 1
    trained.run_line_magic(
        "mlops_promote", 'cancer/2 production --force --reason "incident 7 rollback test"'
    )
    assert mlops.alias_holder("cancer", "production") == 2


@pytest.mark.parametrize(
    "magic, line, message",
    [
        ("mlops_register", "", "the following arguments are required"),
        ("mlops_register", "nope -n x", "No variable named 'nope'"),
        ("mlops_register", "good -n 'bad/name'", "Invalid model name"),
        ("mlops_register", "good -n x -a latest", "reserved"),
        ("mlops_register", "runs:/missing/model -n x", "No run with id"),
        ("mlops_promote", "cancer production", "NAME/VERSION"),
        ("mlops_promote", "cancer/9 production", "no version 9"),
        ("mlops_promote", "cancer/1 production --check 'acc >> 1'", "METRIC OP VALUE"),
        ("mlops_promote", "cancer/1 production --data X_test nope", "No variable named 'nope'"),
        ("mlops_promote", "cancer/1 production --force", "needs a reason"),
        ("mlops_models", "nope", "No registered model named 'nope'"),
        ("mlops_models", "a b", "unrecognized arguments"),
    ],
)
def test_mistakes_are_one_line_usage_errors(trained, magic, line, message):
    trained.run_line_magic("mlops_register", "good -n cancer")
    with pytest.raises(UsageError, match=message):
        trained.run_line_magic(magic, line)


def test_models_panel_lists_and_details_with_escaping(trained):
    trained.run_line_magic("mlops_register", f"good -n cancer -d '{XSS}'")
    mlops.update_model_version("cancer", 1, tags={"note": XSS})
    with mlops.start_run(name=XSS):
        uri = mlops.log_model(trained.user_ns["weak"])
    mlops.register_model(uri, "cancer")
    mlops.set_alias("cancer", "champion", 1, reason=XSS)
    listing = ModelsPanel()
    assert "cancer" in listing.static_html() and "champion→v1" in listing.static_html()
    panel = ModelsPanel("cancer", user_ns=trained.user_ns)
    page = panel.static_html() + panel._detail.value
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Alias history" in page and "v2" in page
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle


def test_lineage_values_wrap_in_full_and_link_the_run_page(trained):
    from jupyter_mlops.jupyter.panels_registry import lineage_html

    version = mlops.register_model(trained.user_ns["good"], "cancer")
    html = lineage_html(mlops.get_model_version("cancer", version.version))
    assert "jp-mlops-wrap" in html and "white-space: normal" in html  # wraps, never cut
    assert version.sha256 in html and "…" not in html  # the whole values
    assert f"#jupyter-mlops/run/{version.run_id}" in html


def test_models_panel_promote_form_runs_the_gate(trained):
    trained.run_line_magic("mlops_register", "good -n cancer")
    trained.run_line_magic("mlops_register", "weak -n cancer")
    panel = ModelsPanel("cancer", user_ns=trained.user_ns)
    panel._version.value = 2
    panel._alias.value = "production"
    panel._checks.value = "accuracy>=0.95"
    panel._x_var.value, panel._y_var.value = "X_test", "y_test"
    assert panel.promote() is None
    assert "refused" in panel._message.value and mlops.alias_holder("cancer", "production") is None
    panel._version.value = 1
    panel._checks.value = "accuracy>=0.9"
    assert panel.promote().passed
    assert mlops.alias_holder("cancer", "production") == 1
    assert "passed" in panel._detail.value
    panel._x_var.value = "missing_var"
    assert panel.promote() is None and "missing_var" in panel._message.value


def test_autologged_model_registers_with_its_run_and_reference_sample(trained):
    trained.user_ns["X_train"] = trained.user_ns["X_test"]
    trained.user_ns["y_train"] = trained.user_ns["y_test"]
    trained.run_cell(
        "%%mlops_track -n fit-in-cell\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "fitted = LogisticRegression(max_iter=2000).fit(X_train, y_train)\n"
    )
    trained.run_line_magic("mlops_register", "fitted -n autologged")
    version = mlops.get_model_version("autologged", 1)
    assert version.lineage["run_name"] == "fit-in-cell"
    assert "training_accuracy_score" in version.lineage["metrics"]
    reference = mlops.load_reference("models:/autologged/1")
    assert list(reference.columns) == list(trained.user_ns["X_train"].columns)
