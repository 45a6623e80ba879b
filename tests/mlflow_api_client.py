"""What a team's MLflow code does, run by the real ``mlflow`` client against our tracking API.

Run with the mlflow venv's python (``tests/mlflow_fixtures.py``), ``MLFLOW_TRACKING_URI`` (and
``MLFLOW_TRACKING_TOKEN`` for Jupyter's mount) set; prints one JSON object of what the client
saw, for the test to check. ``python mlflow_api_client.py lifecycle EXPERIMENT MODEL``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")


def lifecycle(experiment: str, model_name: str) -> dict:
    mlflow.set_experiment(experiment)
    X, y = load_iris(return_X_y=True, as_frame=True)
    client = MlflowClient()
    with mlflow.start_run(run_name="lr-c1") as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 300})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"accuracy": 0.97, "f1": 0.96})
        mlflow.set_tags({"team": "fraud", "stage": "dev"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("loss", 0.5)
        model = LogisticRegression(max_iter=300).fit(X, y)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(3))
        mlflow.log_text("hello from mlflow", "notes/readme.txt")
        try:
            mlflow.log_param("C", 2.0)
            changed_param = "accepted"
        except MlflowException as e:
            changed_param = e.error_code
    with mlflow.start_run(run_name="lr-c2"):
        mlflow.log_param("C", 0.1)
        mlflow.log_metric("loss", 0.2, step=4)
        mlflow.log_metric("accuracy", 0.91)

    found = mlflow.search_runs(
        experiment_names=[experiment], filter_string="metrics.accuracy > 0.9",
        order_by=["metrics.accuracy DESC"],
    )  # fmt: skip
    by_name = client.search_runs(
        [run.info.experiment_id], filter_string="attributes.run_name = 'lr-c1'"
    )
    paged = client.search_runs([run.info.experiment_id], max_results=1)
    second = client.search_runs([run.info.experiment_id], max_results=1, page_token=paged.token)
    history = client.get_metric_history(run.info.run_id, "loss")

    version = mlflow.register_model(info.model_uri, model_name)
    client.set_registered_model_alias(model_name, "champion", version.version)
    by_alias = client.get_model_version_by_alias(model_name, "champion")
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    predictions = loaded.predict(X.head(4)).tolist()
    again = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    client.update_registered_model(model_name, description="scores card fraud")
    client.set_registered_model_tag(model_name, "team", "fraud")
    described = client.get_registered_model(model_name)
    # the client appends "tag.`mlflow.prompt.is_prompt` != 'true'" to these searches
    registered = [m.name for m in client.search_registered_models()]
    liked = [m.name for m in client.search_registered_models(f"name LIKE '{model_name[:3]}%'")]
    versions = [v.version for v in client.search_model_versions(f"name = '{model_name}'")]
    with tempfile.TemporaryDirectory() as tmp:
        text = open(mlflow.artifacts.download_artifacts(  # noqa: SIM115
            run_id=run.info.run_id, artifact_path="notes/readme.txt", dst_path=tmp
        )).read()  # fmt: skip
    try:
        client.get_run("0" * 32)
        missing = "found"
    except MlflowException as e:
        missing = e.error_code
    got = client.get_run(run.info.run_id)
    return {
        "run_id": run.info.run_id,
        "child_id": child.info.run_id,
        "experiment_id": run.info.experiment_id,
        "changed_param": changed_param,
        "search": found[["tags.mlflow.runName", "metrics.accuracy", "params.C"]].to_dict("records"),
        "by_name": [r.info.run_name for r in by_name],
        "pages": [[r.info.run_name for r in paged], [r.info.run_name for r in second]],
        "history": [(m.step, m.value) for m in history],
        "params": got.data.params,
        "tags": {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.log-model")},
        "status": got.info.status,
        "artifact_uri": got.info.artifact_uri,
        "version": version.version,
        "again": again.version,
        "registered": registered,
        "model_description": described.description,
        "model_tags": described.tags,
        "liked": liked,
        "versions": versions,
        "alias_version": by_alias.version,
        "predictions": predictions,
        "text": text,
        "missing_run": missing,
        "model_id": info.model_id,
    }


def quick(experiment: str, model_name: str) -> dict:
    """Fewer steps (for Jupyter's mount): a run with a param, a metric, a file and a model."""
    mlflow.set_experiment(experiment)
    X, y = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run(run_name="in-jupyter") as run:
        mlflow.log_param("C", 0.5)
        mlflow.log_metric("accuracy", 0.95)
        mlflow.log_text("through jupyter", "notes.txt")
        info = mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X, y), name="model")
    version = mlflow.register_model(info.model_uri, model_name)
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}/{version.version}")
    runs = mlflow.search_runs(experiment_names=[experiment])
    return {
        "run_id": run.info.run_id,
        "runs": runs["tags.mlflow.runName"].tolist(),
        "text": mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt"),
        "predictions": loaded.predict(X.head(2)).tolist(),
        "version": version.version,
    }


def autolog(experiment: str, model_name: str) -> dict:
    """``mlflow.sklearn.autolog()``, as most MLflow users track: params, metrics, plots, model."""
    mlflow.set_experiment(experiment)
    X, y = load_iris(return_X_y=True, as_frame=True)
    mlflow.sklearn.autolog(log_input_examples=True)
    try:
        with mlflow.start_run(run_name="autologged") as run:
            LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    return {"run_id": run.info.run_id}


if __name__ == "__main__":
    scenario = {"lifecycle": lifecycle, "quick": quick, "autolog": autolog}[sys.argv[1]]
    print(json.dumps(scenario(sys.argv[2], sys.argv[3])))
