"""Signatures from what a model knows, in our descriptor and in the ``MLmodel`` MLflow reads.

MLflow itself (``mlflow==3.17.2`` in its own venv, as the tracking server's tests use it) loads
the models we write and sees their input schema; our model server names a missing column of a
model registered without an input example.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest
from mlflow_fixtures import build_server_venv
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import jupyter_mlops as mlops
from jupyter_mlops.serving.deploy import deploy, undeploy

IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Three models registered without an input example: frame-fit, pipeline, array-fit."""
    from jupyter_mlops.store import set_tracking_uri

    folder = str(tmp_path_factory.mktemp("signatures") / "store")
    set_tracking_uri(folder)
    os.environ["JUPYTER_MLOPS_STORE"] = folder
    X, y = load_iris(return_X_y=True, as_frame=True)
    shop = pd.DataFrame({"city": ["Paris", "Lyon"] * 10, "age": np.arange(20)})
    encode = ColumnTransformer([("c", OneHotEncoder(), ["city"])], remainder="passthrough")
    fitted = {
        "iris": LogisticRegression(max_iter=1000).fit(X, y),
        "shop": make_pipeline(encode, LogisticRegression()).fit(shop, shop["age"] > 9),
        "plain": LogisticRegression(max_iter=1000).fit(X.values, y),
    }
    versions = {name: mlops.register_model(model, name) for name, model in fitted.items()}
    yield {"X": X, "shop": shop, "fitted": fitted, "versions": versions, "store": folder}
    set_tracking_uri(None)
    os.environ.pop("JUPYTER_MLOPS_STORE", None)


def test_a_fitted_model_knows_its_inputs(models):
    versions = models["versions"]
    assert versions["iris"].signature == {"inputs": [{"name": n, "type": "double"} for n in IRIS]}
    assert versions["shop"].signature == {
        "inputs": [{"name": "city", "type": "any"}, {"name": "age", "type": "any"}]
    }
    assert versions["plain"].signature == {
        "inputs": [{"name": None, "type": "double", "shape": [-1, 4]}]
    }
    with mlops.start_run():  # an input example still wins: it knows the dtypes
        uri = mlops.log_model(models["fitted"]["shop"], input_example=models["shop"].head())
    run_id = uri.split("/")[1]
    descriptor = json.load(open(mlops.get_store().artifact_file(run_id, "model/MLmodel.json")))
    assert descriptor["signature"]["inputs"][1] == {"name": "age", "type": "long"}


def test_the_server_names_the_missing_column(models):
    import urllib.error
    import urllib.request

    dep = deploy("models:/iris/1", name="iris-signature")
    try:
        rows = models["X"].drop(columns=IRIS[3]).head(2).to_dict(orient="records")
        body = json.dumps({"dataframe_records": rows}).encode()
        request = urllib.request.Request(
            dep.url + "/invocations", body, {"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        answer = json.loads(refused.value.read())
        assert refused.value.code == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE"
        assert answer["message"].startswith("Missing column(s): 'petal width (cm)'.")
    finally:
        undeploy(dep.name)


def model_folder(version, target: str) -> str:
    """The version's files as MLflow finds them in an artifact folder."""
    store = mlops.get_store()
    run = store.get_run(version.run_id)
    os.makedirs(target)
    for path in run["artifacts"]:
        if path.startswith("model/"):
            shutil.copy(store.artifact_file(version.run_id, path), os.path.join(target, path[6:]))
    return target


MLFLOW_READS = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import mlflow.pyfunc
    import pandas as pd
    out = {}
    for name, folder in json.loads(sys.argv[1]).items():
        model = mlflow.pyfunc.load_model(folder)
        schema = model.metadata.get_input_schema()
        out[name] = {"schema": schema.to_dict(), "tensor": schema.is_tensor_spec()}
        frame = pd.read_json(sys.argv[2], orient="split")
        if name == "iris":
            out[name]["predicted"] = model.predict(frame).tolist()
            try:
                model.predict(frame.drop(columns=["petal width (cm)"]))
            except Exception as error:
                out[name]["refused"] = str(error)
    print(json.dumps(out))
    """
)


def test_mlflow_loads_our_models_with_their_input_schema(models, tmp_path):
    python = os.path.join(os.path.dirname(build_server_venv()), "python")
    folders = {
        name: model_folder(version, str(tmp_path / name))
        for name, version in models["versions"].items()
    }
    frame = models["X"].head(5)
    frame.to_json(tmp_path / "X.json", orient="split", index=False)
    done = subprocess.run(
        [python, "-c", MLFLOW_READS, json.dumps(folders), str(tmp_path / "X.json")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["iris"]["schema"] == [{"type": "double", "name": n, "required": True} for n in IRIS]
    assert seen["iris"]["predicted"] == models["fitted"]["iris"].predict(frame).tolist()
    assert "Model is missing inputs ['petal width (cm)']" in seen["iris"]["refused"]
    assert [c["type"] for c in seen["shop"]["schema"]] == ["any", "any"]
    assert seen["plain"]["tensor"] is True
    assert seen["plain"]["schema"] == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}
    ]
