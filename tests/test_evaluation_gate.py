"""The evaluator everywhere: autolog, the gate, the magic, and a real deployment's traffic.

Autolog's training metrics, the gate's checks and thresholds, ``%mlops_evaluate`` and its panel,
and the test set against what a deployment was really asked.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pandas as pd
import pytest
from IPython.core.error import UsageError
from magic_fixtures import runs
from sklearn import metrics as skm
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.jupyter.panels_evaluate import EvaluationPanel
from jupyter_mlops.jupyter.panels_registry import ModelsPanel
from jupyter_mlops.registry import gate
from jupyter_mlops.serving.deploy import deploy, undeploy
from jupyter_mlops.store import get_store, set_tracking_uri
from jupyter_mlops.tracking import context, fluent

FIT = """\
%%mlops_track -n {name}
model = LogisticRegression(C={c}, max_iter=2000).fit(X_train, y_train)
"""


@pytest.fixture
def wine(shell):
    """Wine, made binary (class 0 or not) and kept multiclass, in the notebook's namespace."""
    X, y = load_wine(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    shell.user_ns.update(LogisticRegression=LogisticRegression, X_test=X_test, y_test=y_test)
    shell.user_ns.update(X_train=X_train, y_train=y_train, y_bin=(y_train == 0).astype(int))
    return shell


def _fit(shell, name: str, c: float, target: str = "y_train") -> fluent.Run:
    cell = FIT.format(name=name, c=c).replace("y_train)", f"{target})")
    assert shell.run_cell(cell).success
    return next(r for r in runs() if r.name == name)


@pytest.mark.parametrize("target", ["y_bin", "y_train"])
def test_check_f1_measures_the_f1_the_run_logged(wine, target):
    run = _fit(wine, f"fit-{target}", 0.01, target)
    logged = run.metrics["training_f1_score"]
    model, X, y = wine.user_ns["model"], wine.user_ns["X_train"], wine.user_ns[target]
    average = {"average": "binary"} if target == "y_bin" else {"average": "macro"}
    assert logged == pytest.approx(skm.f1_score(y, model.predict(X), **average), rel=1e-12)
    assert run.metrics["training_roc_auc"] == pytest.approx(
        mlops.evaluate(model, X, y, log=False).metrics["roc_auc"], rel=1e-12
    )
    mlops.register_model(f"runs:/{run.id}/model", "wine")
    report = mlops.promote("wine", 1, "prod", checks=[f"f1>={logged}"], data=(X, y))
    (check,) = report.checks
    assert check["passed"] and check["value"] == logged
    with pytest.raises(gate.GateFailed):
        mlops.promote("wine", 1, "prod2", checks=[f"f1>{logged}"], data=(X, y))


def test_an_autologged_model_is_checked_against_its_runs_training_metrics(wine):
    run = _fit(wine, "autologged", 0.01)
    model, X, y = wine.user_ns["model"], wine.user_ns["X_test"], wine.user_ns["y_test"]
    report = mlops.evaluate(model, X, y)
    assert report.model == f"runs:/{run.id}/model"
    rows = {r["metric"]: r for r in report.fit["metrics"]}
    assert rows["f1"]["train"] == run.metrics["training_f1_score"]
    assert rows["f1"]["test"] == report.metrics["f1"] and report.fit["verdict"] != "unknown"
    evaluation_run = mlops.get_run(report.run_id)
    assert evaluation_run.tags["mlops.evaluation.model_run_id"] == run.id
    # a second model of the same run reads its own training metrics (model-2.training_*)
    cell = "%%mlops_track\nfirst = LogisticRegression(C=0.01, max_iter=2000).fit(X_train, y_train)"
    cell += "\nsecond = Tree(max_depth=2, random_state=0).fit(X_train, y_train)"
    wine.user_ns["Tree"] = DecisionTreeClassifier
    assert wine.run_cell(cell).success
    two = next(r for r in runs() if "model-2.training_f1_score" in r.metrics)
    second = mlops.evaluate(wine.user_ns["second"], X, y, log=False)
    assert second.model == f"runs:/{two.id}/model-2"
    rows = {r["metric"]: r for r in second.fit["metrics"]}
    assert rows["f1"]["train"] == two.metrics["model-2.training_f1_score"]
    assert rows["f1"]["train"] != two.metrics["training_f1_score"]


def test_promote_thresholds_compare_with_the_alias_holder(store_dir):
    X, y = load_iris(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    good = LogisticRegression(max_iter=1000).fit(X_train, y_train)
    stump = DecisionTreeClassifier(max_depth=1).fit(X_train, y_train)
    mlops.register_model(stump, "iris")
    mlops.register_model(good, "iris")
    better = {"f1": mlops.MetricThreshold(min_absolute_change=0.05)}
    first = mlops.promote("iris", 1, "prod", thresholds=better, data=(X_test, y_test))
    assert first.passed and "no current to compare with" in first.checks[0]["detail"]
    second = mlops.promote("iris", 2, "prod", thresholds=better, data=(X_test, y_test))
    (result,) = second.checks
    assert result["baseline"] == first.candidate_metrics["f1"] and result["passed"]
    with pytest.raises(gate.GateFailed, match="current v2"):
        mlops.promote("iris", 1, "prod", thresholds=better, data=(X_test, y_test))
    assert mlops.alias_holder("iris", "prod") == 2
    with pytest.raises(InvalidInput, match="thresholds= maps"):
        mlops.promote("iris", 1, "prod", thresholds=["f1>=0.9"], data=(X_test, y_test))


def test_without_data_the_gate_uses_the_stored_evaluation(store_dir):
    X, y = load_iris(return_X_y=True, as_frame=True)
    mlops.register_model(LogisticRegression(max_iter=1000).fit(X, y), "flowers")
    with pytest.raises(InvalidInput, match="names metric 'f1'"):
        mlops.promote("flowers", 1, "prod", checks=["f1>=0.5"])
    report = mlops.evaluate("models:/flowers/1", X, y)
    promoted = mlops.promote("flowers", 1, "prod", checks=["f1>=0.5"])
    assert promoted.checks[0]["value"] == report.metrics["f1"]
    panel = ModelsPanel("flowers")
    assert "Latest evaluation" in panel.static_html() and "balanced_accuracy" in (
        panel._detail.value
    )


# -- the magic ------------------------------------------------------------------------------------
def test_magic_shows_the_report_panel(wine, monkeypatch):
    displayed = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **k: displayed.append(obj))
    X, y = load_wine(return_X_y=True, as_frame=True)
    wine.user_ns["model"] = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    wine.user_ns["stump"] = DecisionTreeClassifier(max_depth=1).fit(X, y)
    wine.run_line_magic(
        "mlops_evaluate",
        "model X_test y_test --baseline stump --slice alcohol --threshold 'f1 >= baseline + 0.1' "
        "--threshold 'accuracy>=0.5' -n holdout",
    )
    (panel,) = displayed
    assert isinstance(panel, EvaluationPanel)
    report = panel.report
    assert report.name == "holdout" and report.passed and len(report.thresholds) == 2
    assert set(report.slices["column"]) == {"alcohol"}
    assert [tab.value.count("<svg") for tab in panel.children[1].children][-1] == 5
    static = panel._repr_mimebundle_()["text/html"]
    assert "Evaluation" in static and "holdout" in static and "<svg" in static
    assert mlops.get_run(report.run_id).metrics["holdout_f1"] == report.metrics["f1"]


def test_promote_magic_takes_thresholds(shell, capsys):
    X, y = load_iris(return_X_y=True, as_frame=True)
    mlops.register_model(DecisionTreeClassifier(max_depth=1).fit(X, y), "petals")
    mlops.register_model(LogisticRegression(max_iter=1000).fit(X, y), "petals")
    shell.user_ns.update(X=X, y=y)
    shell.run_line_magic("mlops_promote", "petals/1 prod --data X y")
    shell.run_line_magic("mlops_promote", "petals/2 prod --threshold 'f1>=baseline+0.1' --data X y")
    assert "✓ petals v2 promoted to @prod" in capsys.readouterr().out
    with pytest.raises(UsageError, match="current v2"):
        shell.run_line_magic("mlops_promote", "petals/1 prod --threshold 'f1>=baseline' --data X y")
    with pytest.raises(UsageError, match="Cannot read the threshold"):
        shell.run_line_magic("mlops_promote", "petals/1 prod --threshold 'f1 > 1'")
    panel = ModelsPanel("petals", user_ns=shell.user_ns)
    panel._version.value, panel._alias.value = 1, "prod"
    panel._x_var.value, panel._y_var.value = "X", "y"
    panel._thresholds.value = "f1 >= baseline; accuracy >= 0.5"
    assert panel.promote() is None and "current v2" in panel._message.value
    panel._thresholds.value = "f1 > 1"
    assert panel.promote() is None and "Cannot read the threshold" in panel._message.value


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("model X_test", "the following arguments are required"),
        ("model X_test nope", "No variable named 'nope'"),
        ("model X_test y_test --threshold 'f1 > 0.9'", "Cannot read the threshold"),
        ("model X_test y_test --task ranking", "Unknown task 'ranking'"),
        ("model X_test y_test --slice age", "Cannot slice by 'age'"),
        ("model X_train y_test", "rows but y has"),
        ("models:/missing/1 X_test y_test", "missing"),
    ],
)
def test_magic_mistakes_are_one_line(wine, line, message):
    wine.user_ns["model"] = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        wine.user_ns["X_train"], wine.user_ns["y_train"]
    )
    with pytest.raises(UsageError, match=message):
        wine.run_line_magic("mlops_evaluate", line)


# -- the test set against production --------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real deployment of an iris model that was sent 60 rows like the data."""
    folder = str(tmp_path_factory.mktemp("production") / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_MLOPS_STORE", folder)
        set_tracking_uri(folder)
        X, y = load_iris(return_X_y=True, as_frame=True)
        mlops.register_model(LogisticRegression(max_iter=1000).fit(X, y), "iris")
        url = deploy("models:/iris/1", name="iris-prod").url
        try:
            rows = X.sample(60, random_state=3)
            for start in range(0, len(rows), 20):
                split = rows.iloc[start : start + 20].to_dict(orient="split", index=False)
                body = json.dumps({"dataframe_split": split}).encode()
                headers = {"Content-Type": "application/json"}
                request = urllib.request.Request(url + "/invocations", body, headers)
                urllib.request.urlopen(request, timeout=10).read()
            deadline = time.monotonic() + 10
            while len(get_store().read_records("predictions/iris-prod")[0]) < 60:
                assert time.monotonic() < deadline, "the server writes its log every second"
                time.sleep(0.2)
            yield folder, X, y
        finally:
            undeploy("iris-prod")
            context.wait_for_captures(60)
            fluent._tracker.flush()
            set_tracking_uri(None)


@pytest.fixture
def at_served(served, monkeypatch):
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", served[0])
    set_tracking_uri(served[0])
    yield served
    set_tracking_uri(None)


def test_a_test_set_like_production_and_one_unlike_it(at_served):
    _, X, y = at_served
    like = mlops.compare_to_production(X.sample(50, random_state=4), "iris-prod", window="1h")
    assert like.representative and like.verdict.startswith("the test set looks like production")
    assert like.differing == like.drift.drifted_columns and like.drift.current_rows == 60
    shifted = X.sample(50, random_state=4)
    shifted["petal length (cm)"] *= 3
    shifted["petal width (cm)"] += 2
    unlike = mlops.compare_to_production(shifted, "iris-prod", window="1h")
    assert not unlike.representative
    assert {"petal length (cm)", "petal width (cm)"} <= set(unlike.differing)
    assert "does not look like production" in unlike.verdict and "petal width" in unlike.verdict
    report = mlops.evaluate("models:/iris/1", X, y, deployment="iris-prod", window="1h")
    assert report.production["representative"] is True
    assert "looks like production" in report._repr_html_()


def test_production_mistakes_are_clear(at_served):
    _, X, _ = at_served
    with pytest.raises(NotFound, match="No deployment named 'nope'"):
        mlops.compare_to_production(X, "nope")
    with pytest.raises(InvalidInput, match="soon"):
        mlops.compare_to_production(X, "iris-prod", window="soon")
    empty = pd.DataFrame({"a": [1.0]})
    time.sleep(1.1)  # the last request is older than a 1-second window now
    with pytest.raises(InvalidInput, match="logged no predictions in the last 1s"):
        mlops.compare_to_production(empty, "iris-prod", window="1s")
