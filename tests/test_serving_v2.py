"""The Open Inference Protocol (V2) on the model server: real processes, a real V2 client.

Every message is checked against the protocol's own schemas (``v2_protocol.py``); Triton's HTTP
client (``tritonclient[http]``) drives the same server.
"""

from __future__ import annotations

import http.client
import json
import os

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
import v2_protocol
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tritonclient.utils import InferenceServerException

import jupyter_mlops as mlops
from jupyter_mlops.serving.deploy import deploy, list_deployments, undeploy
from jupyter_mlops.store import set_tracking_uri

IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two deployments: iris (four double columns) and shop (a string and a long column)."""
    folder = str(tmp_path_factory.mktemp("v2") / "store")
    set_tracking_uri(folder)
    os.environ["JUPYTER_MLOPS_STORE"] = folder
    X, y = load_iris(return_X_y=True, as_frame=True)
    iris = LogisticRegression(max_iter=1000).fit(X, y)
    mlops.register_model(iris, "iris", input_example=X.head())
    rng = np.random.default_rng(0)
    cities, ages = rng.choice(["Paris", "Lyon"], 60), rng.integers(18, 80, 60)
    shop = pd.DataFrame({"city": cities, "age": ages})
    encode = ColumnTransformer([("c", OneHotEncoder(), ["city"])], remainder="passthrough")
    buys = make_pipeline(encode, LogisticRegression()).fit(shop, shop["age"] > 40)
    mlops.register_model(buys, "shop", input_example=shop.head())
    deps = {"iris": deploy("models:/iris/1", name="iris-v2"), "shop": deploy("models:/shop/1")}
    yield {"X": X, "model": iris, "rows": shop, "buys": buys, **deps}
    for dep in list_deployments():
        undeploy(dep.name)
    set_tracking_uri(None)
    os.environ.pop("JUPYTER_MLOPS_STORE", None)


def call(dep, method: str, path: str, body: dict | bytes | None = None) -> tuple[int, dict]:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    conn = http.client.HTTPConnection(dep.host, dep.port, timeout=30)
    try:
        conn.request(method, path, data, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def infer(dep, request: dict | bytes, model: str = "iris") -> tuple[int, dict]:
    if isinstance(request, dict):
        v2_protocol.check("inference_request", request)
    status, answer = call(dep, "POST", f"/v2/models/{model}/infer", request)
    v2_protocol.check("inference_response" if status == 200 else "error", answer)
    return status, answer


def test_health_and_metadata_follow_the_protocol(served):
    dep = served["iris"]
    assert call(dep, "GET", "/v2/health/live") == (200, {"live": True})
    assert call(dep, "GET", "/v2/health/ready") == (200, {"ready": True})
    status, server = call(dep, "GET", "/v2")
    assert status == 200 and v2_protocol.check("server_metadata", server)["version"]
    for path in ("/v2/models/iris", "/v2/models/iris/versions/1", "/v2/models/iris-v2"):
        status, meta = call(dep, "GET", path)
        assert status == 200 and v2_protocol.check("model_metadata", meta)["versions"] == ["1"]
        assert [t["name"] for t in meta["inputs"]] == IRIS
        assert {t["datatype"] for t in meta["inputs"]} == {"FP64"}
        assert meta["outputs"] == [{"name": "predictions", "datatype": "INT64", "shape": [-1]}]
    assert call(dep, "GET", "/v2/models/iris/ready") == (200, {"name": "iris", "ready": True})
    for path in ("/v2/models/other", "/v2/models/iris/versions/7/ready", "/v2/nope"):
        status, error = call(dep, "GET", path)
        assert status == 404 and v2_protocol.check("error", error), path


def test_one_tensor_of_rows_predicts_like_load_model(served):
    X = served["X"].iloc[[0, 60, 120]]
    expected = served["model"].predict(X).tolist()
    for datatype, data in [("FP64", X.values.ravel().tolist()), ("FP32", X.values.tolist())]:
        request = {
            "id": "r-1",
            "parameters": {"tag": "x"},
            "inputs": [{"name": "input-0", "shape": [3, 4], "datatype": datatype, "data": data}],
            "outputs": [{"name": "predictions"}],
        }
        status, answer = infer(served["iris"], request)
        assert status == 200 and answer["id"] == "r-1" and answer["model_version"] == "1"
        (output,) = answer["outputs"]
        got = (output["name"], output["datatype"], output["shape"])
        assert got == ("predictions", "INT64", [3])
        assert output["data"] == expected


def test_one_tensor_per_column_with_typed_data(served):
    shop, buys = served["rows"].head(4), served["buys"]
    inputs = [
        {"name": "city", "shape": [4], "datatype": "BYTES", "data": shop["city"].tolist()},
        {"name": "age", "shape": [4, 1], "datatype": "INT32", "data": shop["age"].tolist()},
        {"name": "note", "shape": [4], "datatype": "BOOL", "data": [True] * 4},  # ignored
    ]
    status, answer = infer(served["shop"], {"inputs": inputs}, "shop")
    assert status == 200 and answer["outputs"][0]["datatype"] == "BOOL"
    assert answer["outputs"][0]["data"] == buys.predict(shop).tolist()
    status, answer = infer(served["shop"], {"inputs": inputs[:1]}, "shop")
    assert status == 400 and "Missing column(s): 'age'" in answer["error"]


def tensor(datatype: str, data: list, shape: list | None = None, name: str = "x") -> dict:
    item = {"name": name, "shape": shape or [1, 4], "datatype": datatype, "data": data}
    return {"inputs": [item]}


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", '"inputs"'),
        ({"inputs": []}, "non-empty list"),
        (tensor("FP128", [1, 2, 3, 4]), "datatype 'FP128' is not one of"),
        (tensor("FP64", [1, 2, 3]), "has 3 values; shape [1, 4] needs 4"),
        (tensor("FP64", [1, 2, 3, 4], [1, -4]), "shape must be a list of sizes"),
        (tensor("INT8", [1, 2, 3, 300]), "INT8: each value must be a whole number from -128"),
        (tensor("UINT8", [1, 2, 3, -1]), "UINT8"),
        (tensor("INT64", [1, 2, 3, 1.5]), "got 1.5"),
        (tensor("FP16", [1, 2, 3, 1e6]), "FP16: each value must be a number within ±6.55e+04"),
        (tensor("BOOL", [1, 0, 1, 0]), "BOOL: each value must be true or false"),
        (tensor("BYTES", [1, 2, 3, 4]), "BYTES: each value must be a string"),
        (tensor("BYTES", ["a", "b", "c", "d"]), "must be numeric"),
        (tensor("FP64", [1, 2, 3, 4, 5, 6], [1, 6]), "has 6 columns; the model takes 4"),
        (tensor("FP64", [1, 2, 3, 4], [4]), "shape [rows, columns]"),
        ({**tensor("FP64", [1, 2, 3, 4]), "outputs": [{"name": "proba"}]}, "Unknown output"),
        ({**tensor("FP64", [1, 2, 3, 4]), "parameters": []}, '"parameters"'),
        ({**tensor("FP64", [1, 2, 3, 4]), "id": 7}, '"id" must be a string'),
        (b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1e999]}]}',
         "out of range"),
    ],
)  # fmt: skip
def test_bad_requests_are_a_400_naming_the_problem(served, request_body, message):
    if isinstance(request_body, dict):  # some break the protocol's schema: not checked first
        request_body = json.dumps(request_body).encode()
    status, answer = infer(served["iris"], request_body)
    assert status == 400 and message in answer["error"], answer
    assert infer(served["iris"], tensor("FP64", [5.1, 3.5, 1.4, 0.2]))[0] == 200


def test_nested_data_and_an_unknown_model_or_version(served):
    status, answer = infer(served["iris"], tensor("FP64", [[5.1, 3.5], [1.4, 0.2]], [1, 4]))
    assert status == 200 and answer["outputs"][0]["data"] == [0]
    for path in ("/v2/models/other/infer", "/v2/models/iris/versions/2/infer"):
        status, answer = call(served["iris"], "POST", path, tensor("FP64", [5.1, 3.5, 1.4, 0.2]))
        assert status == 404 and "This server serves" in answer["error"]
    status, answer = call(served["iris"], "GET", "/v2/models/iris/infer")
    assert status == 405 and v2_protocol.check("error", answer)


def test_tritons_http_client_talks_to_the_server(served):
    dep, X = served["iris"], served["X"].iloc[:5]
    client = triton.InferenceServerClient(f"{dep.host}:{dep.port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("iris") and client.is_model_ready("iris", "1")
        assert not client.is_model_ready("other")
        meta = client.get_model_metadata("iris")
        assert meta["name"] == "iris" and [t["name"] for t in meta["inputs"]] == IRIS
        rows = triton.InferInput("input-0", [5, 4], "FP64")
        rows.set_data_from_numpy(X.values, binary_data=False)
        wanted = triton.InferRequestedOutput("predictions", binary_data=False)
        result = client.infer("iris", [rows], outputs=[wanted], request_id="t-1")
        np.testing.assert_array_equal(result.as_numpy("predictions"), served["model"].predict(X))
        assert result.get_response()["id"] == "t-1"
        columns = []
        for name in IRIS:
            column = triton.InferInput(name, [5], "FP32")
            column.set_data_from_numpy(X[name].values.astype("float32"), binary_data=False)
            columns.append(column)
        result = client.infer("iris", columns)
        np.testing.assert_array_equal(result.as_numpy("predictions"), served["model"].predict(X))
        with pytest.raises(InferenceServerException, match="Missing column"):
            client.infer("iris", columns[:2])
        binary = triton.InferInput("input-0", [5, 4], "FP64")
        binary.set_data_from_numpy(X.values)  # the binary extension: refused by name
        with pytest.raises(InferenceServerException, match="binary tensor extension"):
            client.infer("iris", [binary])
    finally:
        client.close()
