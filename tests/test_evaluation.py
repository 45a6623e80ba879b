"""The evaluation module: metrics equal scikit-learn's, slices, thresholds, fit, plots, records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize
from sklearn.tree import DecisionTreeClassifier

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.evaluation import metrics as table
from jupyter_mlops.evaluation import record
from jupyter_mlops.evaluation.measure import measure
from jupyter_mlops.evaluation.record import stored_evaluations
from jupyter_mlops.evaluation.thresholds import check_thresholds, parse_threshold
from jupyter_mlops.viz.theme import figure_to_svg

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def binary():
    """Breast cancer with string labels: the positive class is classes_[1], 'malignant'."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    y = pd.Series(np.where(y == 0, "malignant", "benign"))
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    return model.fit(X_train, y_train), X_train, X_test, y_train, y_test


@pytest.fixture(scope="module")
def multiclass():
    X, y = load_wine(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.02, max_iter=1000))
    return model.fit(X_train, y_train), X_test, y_test


@pytest.fixture(scope="module")
def regression():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    return LinearRegression().fit(X_train, y_train), X_test, y_test


def _ece(y_true, p):
    """Expected calibration error from scikit-learn's calibration_curve and the bin counts."""
    observed, mean_p = calibration_curve(y_true, p, n_bins=10, strategy="uniform")
    counts = np.bincount(np.clip((p * 10).astype(int), 0, 9), minlength=10)
    return float(np.sum(counts[counts > 0] * np.abs(observed - mean_p)) / len(p))


# -- golden: every metric is scikit-learn's on the same data --------------------------------------
def test_binary_metrics_equal_sklearn(binary):
    model, _, X, _, y = binary
    report = mlops.evaluate(model, X, y, log=False)
    pred, proba = model.predict(X), model.predict_proba(X)
    assert list(model.classes_) == ["benign", "malignant"]
    pos, p = "malignant", proba[:, 1]
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, pos_label=pos),
        "recall": skm.recall_score(y, pred, pos_label=pos),
        "f1": skm.f1_score(y, pred, pos_label=pos),
        "roc_auc": skm.roc_auc_score(y == pos, p),
        "pr_auc": skm.average_precision_score(y == pos, p),
        "log_loss": skm.log_loss(y, proba),
        "brier": skm.brier_score_loss(y == pos, p),
        "calibration_error": _ece((y == pos).to_numpy(), p),
    }
    assert report.task == "binary"
    assert set(report.metrics) == set(expected)
    for name, value in expected.items():
        assert report.metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert report.metrics["f1"] != skm.f1_score(y, pred, average="weighted")  # not the old gate's
    assert report.definitions["f1"] == "positive class"
    assert report.definitions["pr_auc"] == "average precision: positive class"


def test_multiclass_metrics_equal_sklearn(multiclass):
    model, X, y = multiclass
    report = mlops.evaluate(model, X, y, log=False)
    pred, proba, classes = model.predict(X), model.predict_proba(X), model.classes_
    top = proba.argmax(axis=1)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"),
        "f1": skm.f1_score(y, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"),
        "pr_auc": skm.average_precision_score(
            label_binarize(y, classes=classes), proba, average="macro"
        ),
        "log_loss": skm.log_loss(y, proba),
        "brier": skm.brier_score_loss(y, proba, labels=classes),
        "calibration_error": _ece((classes[top] == y).to_numpy(), proba.max(axis=1)),
    }
    assert report.task == "multiclass"
    assert set(report.metrics) == set(expected)
    for name, value in expected.items():
        assert report.metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert "macro" in table.METRICS["f1"].averaging and "positive" in table.METRICS["f1"].averaging
    assert report.definitions["f1"] == "macro over classes"  # the multiclass half


def test_regression_metrics_equal_sklearn(regression):
    model, X, y = regression
    report = mlops.evaluate(model, X, y, log=False)
    pred = model.predict(X)
    expected = {
        "mae": skm.mean_absolute_error(y, pred),
        "mse": skm.mean_squared_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "max_error": skm.max_error(y, pred),
    }
    assert report.task == "regression" and report.metrics == pytest.approx(expected, rel=1e-12)


def test_sample_weights_reach_every_weighted_metric(binary):
    model, _, X, _, y = binary
    w = np.linspace(0.5, 2.0, len(y))
    got = measure(model, X, y, sample_weight=w).metrics
    pred, p = model.predict(X), model.predict_proba(X)[:, 1]
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, pos_label="malignant", sample_weight=w))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "malignant", p, sample_weight=w))


def test_undefined_metrics_are_left_out_with_a_note(binary):
    model, _, X, _, y = binary
    rows = (y == "benign").to_numpy()  # one class only: ROC AUC is not defined
    report = mlops.evaluate(model, X[rows], y[rows], log=False)
    assert "roc_auc" not in report.metrics and "roc_auc" in report.notes
    assert "accuracy" in report.metrics


# -- task and bad input ---------------------------------------------------------------------------
def test_task_is_inferred_or_given(binary, regression):
    model, _, X, _, y = binary
    assert table.check_task("binary") == "binary"
    assert measure(regression[0], regression[1], regression[2]).task == "regression"
    numeric = (y == "malignant").astype(int)
    tree = DecisionTreeClassifier(max_depth=2).fit(X, numeric)
    assert measure(tree, X, numeric).task == "binary"
    as_numbers = mlops.evaluate(tree, X, numeric, task="regression", log=False)
    assert as_numbers.task == "regression" and "rmse" in as_numbers.metrics


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y: (X, y[:-3]), "X has 143 rows but y has 140 values"),
        (lambda X, y: (X.iloc[:0], y[:0]), "empty"),
        (lambda X, y: (X, y.replace("benign", "healthy")), "labels the model never saw: 'healthy'"),
    ],
)
def test_bad_data_is_one_clear_error(binary, change, message):
    model, _, X, _, y = binary
    X2, y2 = change(X, y.reset_index(drop=True))
    with pytest.raises(InvalidInput, match=message):
        mlops.evaluate(model, X2, y2, log=False)


def test_bad_task_model_and_name_are_clear_errors(binary, multiclass):
    model, _, X, _, y = binary
    with pytest.raises(InvalidInput, match="Unknown task 'ranking'"):
        mlops.evaluate(model, X, y, task="ranking", log=False)
    with pytest.raises(InvalidInput, match="task='binary' but there are 3 classes"):
        mlops.evaluate(multiclass[0], multiclass[1], multiclass[2], task="binary", log=False)
    with pytest.raises(InvalidInput, match="fitted model"):
        mlops.evaluate(object(), X, y, log=False)
    with pytest.raises(InvalidInput, match="Cannot evaluate 'model.pkl'"):
        mlops.evaluate("model.pkl", X, y, log=False)
    with pytest.raises(InvalidInput, match="could not predict"):
        mlops.evaluate(model, X.iloc[:, :3], y, log=False)


# -- thresholds -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bound", "value", "base", "passed"),
    [
        (mlops.MetricThreshold(threshold=0.9), 0.9, None, True),
        (mlops.MetricThreshold(threshold=0.9), 0.89, None, False),
        (mlops.MetricThreshold(threshold=3.0, greater_is_better=False), 3.1, None, False),
        (mlops.MetricThreshold(min_absolute_change=0.05), 0.85, 0.80, True),
        (mlops.MetricThreshold(min_absolute_change=0.05), 0.84, 0.80, False),
        (mlops.MetricThreshold(min_absolute_change=1, greater_is_better=False), 4.0, 5.0, True),
        (mlops.MetricThreshold(min_absolute_change=1, greater_is_better=False), 4.5, 5.0, False),
        (mlops.MetricThreshold(min_relative_change=0.1), 0.88, 0.80, True),
        (mlops.MetricThreshold(min_relative_change=0.1), 0.87, 0.80, False),
        (mlops.MetricThreshold(min_relative_change=0.1, greater_is_better=False), 0.9, 1.0, True),
        (mlops.MetricThreshold(min_relative_change=0.1), 1e-11, 0.0, False),  # zero baseline
        (mlops.MetricThreshold(min_relative_change=0.1), 1e-9, 0.0, True),
        (mlops.MetricThreshold(threshold=0.5, min_absolute_change=0.1), 0.85, 0.8, False),
    ],
)
def test_metric_threshold_follows_mlflow(bound, value, base, passed):
    baseline = None if base is None else {"f1": base}
    (result,) = check_thresholds({"f1": bound}, {"f1": value}, baseline)
    assert result["passed"] is passed, result["detail"]


def test_thresholds_against_a_baseline_model(binary):
    model, _, X, _, y = binary
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(binary[1], binary[3])
    bounds = {"f1_score": mlops.MetricThreshold(min_absolute_change=0.01), "accuracy": None}
    with pytest.raises(InvalidInput, match=r"thresholds\['accuracy'\] must be a MetricThreshold"):
        mlops.evaluate(model, X, y, baseline=stump, thresholds=bounds, log=False)
    del bounds["accuracy"]
    report = mlops.evaluate(model, X, y, baseline=stump, thresholds=bounds, log=False)
    assert report.passed and report.baseline["metrics"]["f1"] < report.metrics["f1"]
    worse = mlops.evaluate(stump, X, y, baseline=model, thresholds=bounds, log=False)
    assert not worse.passed and worse.thresholds[0]["metric"] == "f1"
    with pytest.raises(InvalidInput, match="compares with a baseline"):
        mlops.evaluate(model, X, y, thresholds=bounds, log=False)
    with pytest.raises(InvalidInput, match="names no computed metric"):
        mlops.evaluate(model, X, y, thresholds={"rmse": mlops.MetricThreshold(1)}, log=False)


def test_threshold_text_and_bad_bounds():
    assert parse_threshold("f1_score>=0.9") == ("f1", mlops.MetricThreshold(threshold=0.9))
    assert parse_threshold("rmse <= 3.5")[1].greater_is_better is False
    assert parse_threshold("f1 >= baseline - 0.02")[1].min_absolute_change == -0.02
    assert parse_threshold("f1 >= baseline + 5%")[1].min_relative_change == pytest.approx(0.05)
    with pytest.raises(InvalidInput, match="Cannot read the threshold"):
        parse_threshold("f1 > 0.9")
    with pytest.raises(InvalidInput, match="needs threshold="):
        mlops.MetricThreshold()
    with pytest.raises(InvalidInput, match="give a number"):
        mlops.MetricThreshold(threshold="high")


# -- slices ---------------------------------------------------------------------------------------
def test_slices_are_ordered_by_shortfall_and_the_worst_flagged():
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"x": rng.normal(size=n), "region": rng.choice(["north", "south"], n)})
    y = (X["x"] > 0).astype(int)
    # the labels of "south" are noisy: the model cannot be right there as often
    flip = (X["region"] == "south").to_numpy() & (rng.random(n) < 0.3)
    y = pd.Series(np.where(flip, 1 - y, y))
    model = LogisticRegression().fit(X[["x"]], y)
    report = mlops.evaluate(make_pipeline_on(model, ["x"]), X, y, slices=["region", "x"], log=False)
    s = report.slices
    assert list(s["shortfall"]) == sorted(s["shortfall"], reverse=True)
    worst = s.iloc[0]
    assert (worst["column"], worst["slice"], bool(worst["flagged"])) == ("region", "= south", True)
    assert worst["rows"] == int((X["region"] == "south").sum())
    south = (X["region"] == "south").to_numpy()
    pred = model.predict(X[["x"]])
    assert worst["value"] == pytest.approx(skm.accuracy_score(y[south], pred[south]))
    bins = s[s["column"] == "x"]
    assert len(bins) == 4 and bins["rows"].sum() == n and not bins["flagged"].any()
    assert list(report.flagged_slices["slice"]) == ["= south"]
    with pytest.raises(InvalidInput, match="Cannot slice by 'age'"):
        mlops.evaluate(make_pipeline_on(model, ["x"]), X, y, slices=["age"], log=False)


class make_pipeline_on:  # noqa: N801 - reads as a function at the call site
    """A model that takes a wider frame and uses some of its columns (as a ColumnTransformer)."""

    def __init__(self, model, columns):
        self.model, self.columns, self.classes_ = model, columns, model.classes_

    def predict(self, X):
        return self.model.predict(X[self.columns])

    def predict_proba(self, X):
        return self.model.predict_proba(X[self.columns])


# -- fit ------------------------------------------------------------------------------------------
def test_fit_check_flags_overfitting_and_underfitting(binary):
    _, X_train, X_test, y_train, y_test = binary
    rng = np.random.default_rng(0)
    noisy = y_train.where(rng.random(len(y_train)) > 0.25, y_train.iloc[::-1].to_numpy())
    deep = DecisionTreeClassifier(random_state=0).fit(X_train, noisy)
    report = mlops.evaluate(deep, X_test, y_test, training=(X_train, noisy), log=False)
    assert report.fit["verdict"] == "overfitting", report.fit
    f1_row = next(r for r in report.fit["metrics"] if r["metric"] == "f1")
    assert f1_row["train"] == 1.0 and f1_row["gap"] > 0.1
    dummy = DummyClassifier().fit(X_train, y_train)
    low = mlops.evaluate(dummy, X_test, y_test, training=(X_train, y_train), log=False)
    assert low.fit["verdict"] == "underfitting"
    good = mlops.evaluate(binary[0], X_test, y_test, training=(X_train, y_train), log=False)
    assert good.fit["verdict"] == "good fit"
    assert mlops.evaluate(binary[0], X_test, y_test, log=False).fit["verdict"] == "unknown"


def test_learning_curves_of_the_run_use_the_fit_diagnosis_rule(store_dir, binary):
    model, _, X, _, y = binary
    with mlops.start_run(name="curves"):
        train_loss = [0.9, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1]
        val_loss = [0.9, 0.7, 0.6, 0.65, 0.7, 0.75, 0.8]
        for step, (train, val) in enumerate(zip(train_loss, val_loss, strict=True)):
            mlops.log_metrics({"train_loss": train, "val_loss": val}, step=step)
        uri = mlops.log_model(model)
    report = mlops.evaluate(uri, X, y)
    (flag,) = report.fit["curves"]
    assert flag["kind"] == "overfitting" and flag["step"] == 2 and "val_loss" in flag["message"]
    (pair,) = report.plot_data["learning_curves"]
    assert (pair["train"], pair["validation"]) == ("train_loss", "val_loss")
    assert pair["val_values"] == val_loss and pair["steps_val"] == list(range(7))
    assert "learning_curves" in report.plot() and "Learning curves" in report._repr_html_()


# -- plots, report form ---------------------------------------------------------------------------
def test_every_plot_is_drawn_and_themed(binary, regression):
    model, _, X, _, y = binary
    report = mlops.evaluate(model, X, y, log=False)
    figures = report.plot()
    assert set(figures) == {"confusion_matrix", "roc", "pr", "calibration", "error_by_feature"}
    svg = figure_to_svg(report.plot("roc"))
    assert "var(--jp-ui-font-color1" in svg and "#ffffff" not in svg.lower()
    assert (
        report.plot_data["confusion_matrix"]["matrix"]
        == skm.confusion_matrix(y, model.predict(X), labels=model.classes_).tolist()
    )
    reg = mlops.evaluate(*regression, log=False)
    assert {"residuals", "predicted_vs_actual", "error_by_feature"} == set(reg.plot())
    with pytest.raises(InvalidInput, match="No plot 'roc'"):
        reg.plot("roc")


def test_report_is_json_and_its_html_escapes_user_strings(binary):
    model, _, X, _, y = binary
    X = X.rename(columns={X.columns[0]: XSS})
    fitted = LogisticRegression(max_iter=3000).fit(X, y)
    report = mlops.evaluate(fitted, X, y, slices=[XSS], name="holdout", log=False)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["name"] == "holdout" and data["passed"] is True
    again = mlops.EvaluationReport.from_dict(data)
    assert again.metrics == report.metrics and len(again.slices) == len(report.slices)
    page = report._repr_html_()
    assert XSS not in page and "&lt;img src=x" in page and "<svg" in page


# -- records: the evaluation run and the model version --------------------------------------------
def test_a_registered_version_gets_a_linked_run_and_the_stored_report(store_dir, binary):
    model, _, X, _, y = binary
    with mlops.start_run(name="train") as train_run:
        uri = mlops.log_model(model)
    mlops.register_model(uri, "cancer")
    report = mlops.evaluate("models:/cancer/1", X, y, slices=["mean radius"])
    run = mlops.get_run(report.run_id)
    assert run.name == "evaluate-test" and run.id != train_run.id
    assert run.tags["mlops.evaluation.model_run_id"] == train_run.id
    assert run.tags["mlops.evaluation.model"] == "models:/cancer/1"
    assert run.metrics["test_f1"] == report.metrics["f1"]
    assert "evaluation/test.json" in run.artifacts
    (stored,) = stored_evaluations("cancer", 1)
    assert stored["metrics"] == report.metrics and "plot_data" not in stored
    assert stored["slices"][0]["column"] == "mean radius"


def test_inside_an_active_run_the_metrics_go_to_that_run(store_dir, binary):
    model, _, X, _, y = binary
    with mlops.start_run(name="experiment") as run:
        report = mlops.evaluate(model, X, y, name="holdout")
    assert report.run_id == run.id
    assert mlops.get_run(run.id).metrics["holdout_accuracy"] == report.metrics["accuracy"]


def test_arrays_and_models_without_probabilities(binary, regression):
    model, X_train, X, y_train, y = binary
    from sklearn.svm import LinearSVC

    svc = make_pipeline(StandardScaler(), LinearSVC()).fit(X_train.to_numpy(), y_train)
    report = mlops.evaluate(svc, X.to_numpy(), y.to_numpy(), slices=[0], log=False)
    assert "roc_auc" not in report.metrics and "f1" in report.metrics  # no predict_proba
    assert set(report.plot()) == {"confusion_matrix"}  # no curves, no feature names
    assert set(report.slices["column"]) == {"0"} and len(report.slices) == 4
    reg = mlops.evaluate(*regression, slices=["sex"], log=False)
    assert list(reg.slices["metric"].unique()) == ["rmse"] and len(reg.slices) == 2
    worst = reg.slices.iloc[0]
    rows = (regression[1]["sex"] == regression[1]["sex"].unique()[0]).to_numpy()
    assert worst["rows"] in (rows.sum(), (~rows).sum()) and worst["shortfall"] >= 0


def test_the_stored_report_on_both_backends(backend, binary):
    """Embedded store and a real MLflow server: the linked run, the version's reports, the gate."""
    model, _, X, _, y = binary
    mlops.register_model(model, "cancer-both")
    reports = [mlops.evaluate("models:/cancer-both/1", X, y, slices=list(X.columns[:3]))
               for _ in range(record.KEEP + 1)]  # fmt: skip
    stored = stored_evaluations("cancer-both", 1)
    assert [s["evaluation_id"] for s in stored] == [r.evaluation_id for r in reports[1:]]
    assert mlops.get_run(reports[-1].run_id).metrics["test_f1"] == reports[-1].metrics["f1"]
    promoted = mlops.promote("cancer-both", 1, "prod", checks=["f1 >= 0.5"])
    assert promoted.checks[0]["value"] == reports[-1].metrics["f1"]
