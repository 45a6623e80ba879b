"""scikit-learn autologging inside tracked cells, checked on what the store holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from magic_fixtures import runs, top_runs

from jupyter_mlops.store import get_store
from jupyter_mlops.tracking import autolog, autolog_sklearn, fluent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DATA = """\
from sklearn.datasets import load_iris, load_diabetes
from sklearn.model_selection import train_test_split
X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
"""


@pytest.fixture
def data(shell):
    assert shell.run_cell(DATA).success
    return shell


def track(ip, source: str, flags: str = ""):
    result = ip.run_cell(f"%%mlops_track {flags}\n{textwrap.dedent(source)}")
    assert result.success, result.error_in_exec
    return result


def artifact_json(run, path):
    with open(get_store().artifact_file(run.id, path), encoding="utf-8") as fh:
        return json.load(fh)


def test_a_pipeline_logs_one_model_its_params_metrics_and_data(data):
    track(
        data,
        """\
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.linear_model import LogisticRegression
        pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        fitted = pipe.fit(X_train, y_train)
        """,
    )
    assert data.user_ns["fitted"] is data.user_ns["pipe"]  # fit's result is untouched
    (run,) = runs()
    models = sorted({path.split("/")[0] for path in run.artifacts if path.endswith("MLmodel.json")})
    assert models == ["model"]  # one model, not one per step
    assert run.params["logisticregression__C"] == "1.0"
    assert run.params["standardscaler__with_mean"] == "True"
    assert "steps" in run.params
    for key in ("accuracy_score", "precision_score", "recall_score", "f1_score"):
        assert 0.8 < run.metrics[f"training_{key}"] <= 1
    assert run.metrics["training_log_loss"] > 0
    assert 0.9 < run.metrics["training_roc_auc"] <= 1
    assert run.tags["estimator_name"] == "Pipeline"
    (dataset,) = run.datasets
    assert dataset["name"] == "X_train" and dataset["rows"] == 112
    descriptor = artifact_json(run, "model/MLmodel.json")
    assert [i["name"] for i in descriptor["signature"]["inputs"]][:2] == [
        "sepal length (cm)",
        "sepal width (cm)",
    ]
    assert len(descriptor["input_example"]["data"]) == 5


def test_a_grid_search_logs_best_params_and_child_runs_for_the_best_candidates(data):
    track(
        data,
        """\
        from sklearn.model_selection import GridSearchCV
        from sklearn.linear_model import LogisticRegression
        grid = {"C": [0.001, 0.01, 0.1, 1, 10, 100]}
        search = GridSearchCV(LogisticRegression(max_iter=300), grid, cv=3).fit(X_train, y_train)
        """,
        "-n grid",
    )
    parent, *children = runs()
    search = data.user_ns["search"]
    assert parent.name == "grid"
    assert parent.params["best_C"] == str(search.best_params_["C"])
    assert parent.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert "estimator__C" in parent.params and "param_grid" in parent.params
    assert len(children) == 5
    assert all(c.parent_run_id == parent.id and c.status == "FINISHED" for c in children)
    ranks = [int(c.tags["mlops.autolog.cv_rank"]) for c in children]
    assert ranks == sorted(ranks) and ranks[0] == 1
    best = children[0]
    assert best.params == {"C": str(search.best_params_["C"])}
    assert best.metrics["mean_test_score"] == pytest.approx(search.best_score_)
    assert "std_test_score" in best.metrics
    assert [p.split("/")[0] for p in parent.artifacts if p.endswith(".pkl")] == ["model"]


def test_a_regressor_logs_regression_metrics(shell):
    track(
        shell,
        """\
        from sklearn.datasets import load_diabetes
        from sklearn.linear_model import Ridge
        Xd, yd = load_diabetes(return_X_y=True)
        Ridge(alpha=0.5).fit(Xd, yd)
        """,
    )
    (run,) = runs()
    m = run.metrics
    assert m["training_mean_absolute_error"] > 0
    assert m["training_root_mean_squared_error"] == pytest.approx(
        m["training_mean_squared_error"] ** 0.5
    )
    assert 0 < m["training_r2_score"] < 1
    assert run.params["alpha"] == "0.5"
    assert "training_accuracy_score" not in m
    assert run.datasets[0]["name"] == "Xd"


def test_metric_calls_after_the_fit_are_logged_under_the_target_name(data):
    track(
        data,
        """\
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.tree import DecisionTreeClassifier
        before = accuracy_score(y_test, y_test)  # before any fit: not logged
        clf = DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
        acc = accuracy_score(y_test, clf.predict(X_test))
        import sklearn.metrics as skm
        skm.f1_score(y_test, clf.predict(X_test), average="macro")
        f1_score(list(y_test), clf.predict(X_test), average=None)  # not a scalar
        clf.score(X_test, y_test)  # sklearn's own accuracy_score call: not logged
        """,
    )
    (run,) = runs()
    assert run.metrics["accuracy_score_y_test"] == pytest.approx(data.user_ns["acc"])
    assert "f1_score_y_test" in run.metrics
    history = fluent.get_metric_history(run.id, "accuracy_score_y_test")
    assert len(history) == 1
    assert "accuracy_score" not in run.metrics and "f1_score" not in run.metrics


def test_a_metric_the_user_logs_with_m_is_not_logged_twice(data):
    track(
        data,
        """\
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.tree import DecisionTreeClassifier
        clf = DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
        test_accuracy = accuracy_score(y_test, clf.predict(X_test))
        f1_score(y_test, clf.predict(X_test), average="macro")
        """,
        "-m test_accuracy",
    )
    (run,) = runs()
    assert run.metrics["test_accuracy"] == pytest.approx(data.user_ns["test_accuracy"])
    assert "accuracy_score_y_test" not in run.metrics  # the user's own name is enough
    assert "f1_score_y_test" in run.metrics  # not named by the user: still autologged


def test_metric_functions_imported_earlier_are_rebound_for_the_cell_only(data):
    import sklearn.metrics as skm

    data.run_cell("from sklearn.tree import DecisionTreeClassifier")
    autolog.install_metric_patches()
    original = autolog.original_metric("r2_score")
    data.user_ns["r2"] = original  # imported before the patches existed
    track(
        data,
        """\
        DecisionTreeClassifier(max_depth=2).fit(X_train, y_train)
        r2(y_test, y_test)
        """,
    )
    assert "r2_score_y_test" in runs()[0].metrics
    assert data.user_ns["r2"] is original
    assert skm.r2_score is not original and skm.r2_score([1, 2], [1, 2]) == 1.0


def test_an_estimator_defined_inside_the_cell_is_autologged(data, monkeypatch):
    # A kernel's user module is __main__ (the test shell gives pytest's back), so pickle finds it.
    monkeypatch.setitem(sys.modules, "__main__", data.user_module)
    track(
        data,
        """\
        from sklearn.base import BaseEstimator, ClassifierMixin
        import numpy as np
        class Majority(ClassifierMixin, BaseEstimator):
            def __init__(self, weight=1):
                self.weight = weight
            def fit(self, X, y):
                self.classes_ = np.unique(y)
                self.value_ = y.mode()[0]
                return self
            def predict(self, X):
                return np.full(len(X), self.value_)
        Majority(weight=3).fit(X_train, y_train)
        """,
    )
    (run,) = runs()
    assert run.params == {"weight": "3"}
    assert "model/model.pkl" in run.artifacts
    assert 0 < run.metrics["training_accuracy_score"] < 1


def test_a_second_model_gets_model_2_and_transformers_log_no_model(data):
    track(
        data,
        """\
        from sklearn.preprocessing import StandardScaler
        from sklearn.linear_model import LogisticRegression
        scaler = StandardScaler()
        Xs = scaler.fit_transform(X_train)
        a = LogisticRegression(C=1.0, max_iter=500).fit(Xs, y_train)
        b = LogisticRegression(C=0.1, max_iter=500).fit(Xs, y_train)
        """,
    )
    (run,) = runs()
    models = sorted({p.split("/")[0] for p in run.artifacts if p.endswith(".pkl")})
    assert models == ["model", "model-2"]
    assert run.params["with_mean"] == "True"  # the scaler's params, no model for it
    assert run.params["C"] == "1.0" and run.params["model-2.C"] == "0.1"
    assert "training_f1_score" in run.metrics and "model-2.training_f1_score" in run.metrics
    assert {d["name"] for d in run.datasets} == {"X_train", "Xs"}


def test_internal_fits_of_cross_validation_are_not_logged(data):
    track(
        data,
        """\
        from sklearn.model_selection import cross_val_score
        from sklearn.tree import DecisionTreeClassifier
        scores = cross_val_score(DecisionTreeClassifier(), X_train, y_train, cv=3)
        """,
    )
    (run,) = runs()
    assert not [p for p in run.artifacts if p.endswith(".pkl")]
    assert set(run.metrics) == {"duration_s"}


def test_no_autolog_and_untracked_cells_log_nothing(data):
    data.run_cell("from sklearn.linear_model import LogisticRegression")
    track(data, "m = LogisticRegression(max_iter=500).fit(X_train, y_train)\n", "--no-autolog")
    fitted = data.run_cell("LogisticRegression(max_iter=500).fit(X_train, y_train)").result
    assert hasattr(fitted, "coef_")
    (run,) = runs()
    assert run.params == {} and set(run.metrics) == {"duration_s"}
    assert autolog.active_session() is None


def test_fits_in_a_start_run_are_autologged_to_it(data):
    data.run_cell("%mlops_track start -n session")
    data.run_cell("from sklearn.linear_model import LogisticRegression")
    data.run_cell("m = LogisticRegression(max_iter=500).fit(X_train, y_train)")
    data.run_cell("%mlops_track stop")
    (run,) = runs()
    assert run.name == "session" and "model/model.pkl" in run.artifacts
    assert "training_accuracy_score" in run.metrics


def test_an_autolog_failure_is_one_warning_and_the_fit_result_is_unchanged(data, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(autolog_sklearn, "_log_model", broken)
    data.run_cell("from sklearn.linear_model import LogisticRegression")
    with pytest.warns(
        RuntimeWarning, match="could not log the model: RuntimeError: disk full"
    ) as w:
        track(data, "m = LogisticRegression(max_iter=500).fit(X_train, y_train)\n")
    (warning,) = [x for x in w if "jupyter_mlops" in str(x.message)]
    assert warning.lineno == 2 and "ipython-input" in warning.filename  # the fit's cell line
    assert hasattr(data.user_ns["m"], "coef_")
    (run,) = runs()
    assert run.status == "FINISHED" and "training_accuracy_score" in run.metrics


def test_outside_tracked_code_the_patches_pass_through(store_dir):
    from sklearn.linear_model import LinearRegression

    autolog.prepare("sklearn")
    model = LinearRegression()
    assert model.fit([[0], [1], [2]], [0, 1, 2]) is model
    assert top_runs() == []
    assert hasattr(LinearRegression.fit, "__mlops_autolog_original__")


def test_the_autolog_context_manager_without_a_notebook(store_dir):
    from sklearn.linear_model import LinearRegression

    with fluent.start_run() as run, autolog.autolog():
        LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    got = fluent.get_run(run.id)
    assert got.metrics["training_r2_score"] == pytest.approx(1.0)
    assert autolog.active_session() is None


def test_top_candidates_follow_the_rank():
    results = {"params": [{}, {}, {}], "rank_test_score": [3, 1, 2]}
    assert autolog_sklearn.top_candidates(results) == [1, 2, 0]


FRESH = """\
import json, os, sys
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
ip.run_line_magic("load_ext", "jupyter_mlops")
assert "sklearn" not in sys.modules
ok = ip.run_cell(CELL, store_history=True).success
from jupyter_mlops.tracking import context, fluent
context.wait_for_captures(60)
(doc,) = fluent.find_runs()
print(json.dumps({"ok": ok, "artifacts": sorted(doc["artifacts"]), "params": doc["params"]}))
"""


@pytest.mark.parametrize(
    ("helper", "cell"),
    [
        (None, "from sklearn.linear_model import Ridge\nRidge(alpha=2.0).fit([[0], [1]], [0, 1])"),
        (
            "from sklearn.linear_model import Ridge\n"
            "def train():\n    return Ridge(alpha=2.0).fit([[0], [1]], [0, 1])\n",
            "import helper\nhelper.train()",
        ),
    ],
    ids=["imported-in-the-cell", "imported-by-a-helper-module"],
)
def test_an_estimator_first_imported_inside_the_tracked_cell_is_autologged(tmp_path, helper, cell):
    if helper:
        (tmp_path / "helper.py").write_text(helper)
    script = f"CELL = {('%%mlops_track' + chr(10) + cell)!r}\n" + FRESH
    env = {**os.environ, "JUPYTER_MLOPS_STORE": str(tmp_path / "store"), "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["ok"]
    assert got["params"]["alpha"] == "2.0"
    assert "model/model.pkl" in got["artifacts"]
