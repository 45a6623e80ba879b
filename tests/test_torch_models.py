"""PyTorch modules as models: logged, registered, loaded and served like any other."""

from __future__ import annotations

import json
import os
import urllib.request

import numpy as np
import pandas as pd
import pytest
import torch

import jupyter_mlops as mlops
from jupyter_mlops.serving.deploy import deploy, undeploy


class TinyNet(torch.nn.Module):
    """Two inputs, one output: a fixed linear layer and a tanh."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.5, -1.0]]))
            self.linear.bias.fill_(0.25)

    def forward(self, x):
        return torch.tanh(self.linear(x))


@pytest.fixture
def frame():
    return pd.DataFrame({"a": [0.0, 1.0, 2.0, -1.0], "b": [1.0, 0.5, -0.5, 2.0]})


def expected(frame):
    return np.tanh(0.5 * frame["a"].to_numpy() - frame["b"].to_numpy() + 0.25)


def test_traced_module_round_trips_without_its_class(tracking_store, frame):
    with mlops.start_run() as run:
        uri = mlops.log_model(TinyNet(), input_example=frame)
    record = mlops.get_run(run.id).artifacts
    assert "model/model.pt2" in record
    descriptor = json.load(open(mlops.get_store().artifact_file(run.id, "model/MLmodel.json")))
    assert descriptor["flavor"] == "pytorch"
    assert descriptor["signature"]["inputs"] == [
        {"name": "a", "type": "double"},
        {"name": "b", "type": "double"},
    ]
    model = mlops.load_model(uri)
    np.testing.assert_allclose(model.predict(frame), expected(frame), rtol=1e-6)
    np.testing.assert_allclose(model.predict(frame.to_numpy()), expected(frame), rtol=1e-6)


def test_module_without_example_is_pickled(tracking_store, frame):
    with mlops.start_run():
        uri = mlops.log_model(TinyNet())
    np.testing.assert_allclose(mlops.load_model(uri).predict(frame), expected(frame), rtol=1e-6)


def test_registered_module_is_served_over_http(tracking_store, frame):
    version = mlops.register_model(TinyNet(), "tiny", input_example=frame)
    assert version.flavor == "pytorch"
    served = deploy("models:/tiny/1", name="tiny")
    try:
        body = json.dumps({"dataframe_records": frame.to_dict(orient="records")}).encode()
        request = urllib.request.Request(
            served.url + "/invocations", body, {"Content-Type": "application/json"}
        )
        got = json.loads(urllib.request.urlopen(request, timeout=10).read())["predictions"]
        np.testing.assert_allclose(got, expected(frame), rtol=1e-6)
    finally:
        undeploy("tiny")


def test_tampered_torch_file_is_refused(tracking_store, frame):
    version = mlops.register_model(TinyNet(), "tiny", input_example=frame)
    blob = os.path.join(tracking_store, "artifacts", version.sha256[:2], version.sha256)
    with open(blob, "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(mlops.IntegrityError):
        mlops.load_model("models:/tiny/1")
