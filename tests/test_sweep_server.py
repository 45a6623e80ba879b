"""``GET sweeps`` and ``GET sweeps/<name>`` on a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import json
import os

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_mlops as mlops
from jupyter_mlops.store import set_tracking_uri


@pytest.fixture
def swept(jp_server_config):
    """A finished sweep in the server's store (written by this process, read by the server)."""
    set_tracking_uri(os.environ["JUPYTER_MLOPS_STORE"])

    def fit(params):
        for step in range(6):
            mlops.log_metric("train_loss", 1 / (step + 1), step=step)
            mlops.log_metric("val_loss", (params["lr"] - 0.3) ** 2 + 0.05 * step, step=step)

    space = {"lr": "uniform(0, 1)", "opt": ["sgd", "adam"]}
    yield mlops.sweep(fit, space, name="web", experiment="exp", trials=8, metric="val_loss",
                      pruner="none", seed=0)  # fmt: skip
    set_tracking_uri(None)


async def test_the_sidebar_reads_sweeps(jp_fetch, swept):
    listed = json.loads((await jp_fetch("jupyter-mlops", "api", "sweeps")).body)
    assert [(s["name"], s["experiment"], s["state"], s["metric"], s["budget"])
            for s in listed["sweeps"]] == [("web", "exp", "finished", "val_loss", 8)]  # fmt: skip
    assert listed["sweeps"][0]["best_value"] == pytest.approx(swept.best_value)

    body = json.loads((await jp_fetch("jupyter-mlops", "api", "sweeps", "web")).body)
    assert body["counts"] == {"complete": 8} and len(body["trials"]) == 8
    assert body["best"]["run_id"] == swept.best_run_id
    assert [h["number"] for h in body["history"]] == list(range(8))
    assert body["history"][-1]["best"] == pytest.approx(swept.best_value)
    assert set(body["importances"]) == {"lr", "opt"}
    pair = {"train": "train_loss", "validation": "val_loss", "lower_is_better": True}
    assert body["pair"] == pair
    assert all(t["overfit"].startswith("val_loss rose") for t in body["trials"])
    assert body["space"] == {"lr": "uniform(0, 1)", "opt": "choice('sgd', 'adam')"}


async def test_an_unknown_sweep_is_a_404_naming_the_sweeps(jp_fetch, swept):
    with pytest.raises(HTTPClientError) as missing:
        await jp_fetch("jupyter-mlops", "api", "sweeps", "nope")
    assert missing.value.code == 404
    assert json.loads(missing.value.response.body) == {
        "message": "No sweep named 'nope' (sweeps: web). Start one with %%mlops_sweep."
    }
