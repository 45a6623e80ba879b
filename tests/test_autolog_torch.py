"""PyTorch autologging in %%mlops_track cells: a plain training loop on a CPU model.

The data set is scikit-learn's digits (1,797 8x8 images, shipped with scikit-learn).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from magic_fixtures import runs

import jupyter_mlops as mlops

DATA = """\
import torch
from torch import nn
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = torch.tensor(X / 16, dtype=torch.float32)
y = torch.tensor(y)
X_train, y_train, X_val, y_val = X[:1400], y[:1400], X[1400:], y[1400:]
"""

MODEL = """\
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
"""

EVALUATE = """\
    model.eval()
    with torch.no_grad():
        val_loss = loss_fn(model(X_val), y_val)
"""


@pytest.fixture
def digits(shell):
    assert shell.run_cell(DATA).success
    return shell


def track(ip, source, name, flags=""):
    result = ip.run_cell(f"%%mlops_track -n {name} {flags}\n{source}")
    assert result.success, result.error_in_exec
    (run,) = [r for r in runs() if r.name == name]
    return run


def curve(run, key):
    return mlops.get_metric_history(run.id, key)


def test_mini_batches_of_a_tensor_give_epochs_params_and_the_model(digits):
    loop = (
        MODEL
        + textwrap.dedent(
            """\
        for epoch in range(6):
            model.train()
            for i in range(0, 1400, 200):
                optimizer.zero_grad()
                loss = loss_fn(model(X_train[i:i + 200]), y_train[i:i + 200])
                loss.backward()
                optimizer.step()
        """
        )
        + EVALUATE
    )
    run = track(digits, loop, "slices")
    assert run.params["optimizer_name"] == "SGD"
    assert run.params["optimizer.lr"] == "0.1" and run.params["optimizer.momentum"] == "0.9"
    assert run.params["loss_name"] == "CrossEntropyLoss"
    assert run.params["loss.label_smoothing"] == "0.05"
    assert run.params["loss.reduction"] == "mean"
    assert run.params["model_class"] == "Sequential"
    assert run.params["model_parameters"] == str(64 * 32 + 32 + 32 * 10 + 10)
    assert run.metrics["epochs"] == 6 and run.metrics["steps"] == 42
    train, val = curve(run, "train_loss"), curve(run, "val_loss")
    assert train.step.tolist() == val.step.tolist() == [0, 1, 2, 3, 4, 5]
    assert train.value.iloc[-1] < train.value.iloc[0] and val.value.iloc[-1] < val.value.iloc[0]
    # the last epoch's val_loss is the loss of the final model on the validation set
    assert val.value.iloc[-1] == pytest.approx(float(digits.user_ns["val_loss"]), rel=1e-5)
    model = mlops.load_model(f"runs:/{run.id}/model")
    descriptor = mlops.get_store().get_run(run.id)["artifacts"]
    assert "model/model.pt2" in descriptor
    predictions = model.predict(digits.user_ns["X_val"][:5].numpy())
    assert predictions.shape == (5, 10)
    expected = digits.user_ns["model"](digits.user_ns["X_val"][:5]).detach().numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)
    from jupyter_mlops.tracking.models import read_descriptor

    signature = read_descriptor(run.id, "model")["signature"]
    assert signature == {"inputs": [{"name": None, "type": "double", "shape": [-1, 64]}]}


def test_a_dataloader_marks_the_epochs(digits):
    loop = MODEL + textwrap.dedent(
        """\
        from torch.utils.data import DataLoader, TensorDataset
        train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=100, shuffle=True)
        val_loader = DataLoader(TensorDataset(X_val, y_val), batch_size=100)
        for epoch in range(3):
            model.train()
            for xb, yb in train_loader:
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                for xb, yb in val_loader:
                    loss_fn(model(xb), yb)
        """
    )
    run = track(digits, loop, "loader")
    assert run.metrics["epochs"] == 3 and run.metrics["steps"] == 42
    assert curve(run, "train_loss").step.tolist() == [0, 1, 2]
    assert curve(run, "val_loss").step.tolist() == [0, 1, 2]


def test_full_batch_training_without_evaluation_counts_each_pass(digits):
    loop = MODEL.replace(
        "SGD(model.parameters(), lr=0.1, momentum=0.9)", "Adam(model.parameters())"
    )
    loop += textwrap.dedent(
        """\
        def train(epochs):  # the model is local to a function: still found
            for _ in range(epochs):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(X_train), y_train).backward()
                optimizer.step()
        train(4)
        """
    )
    run = track(digits, loop, "full")
    assert (
        run.params["optimizer_name"] == "Adam" and run.params["optimizer.betas"] == "[0.9, 0.999]"
    )
    assert "loss_name" not in run.params  # a functional loss is no module
    assert run.metrics["epochs"] == 4
    assert curve(run, "train_loss").step.tolist() == [0, 1, 2, 3]


def test_shuffled_index_batches_log_the_loss_per_step(digits):
    loop = MODEL + textwrap.dedent(
        """\
        order = torch.randperm(1400)
        for i in range(0, 1400, 350):
            batch = order[i:i + 350]
            optimizer.zero_grad()
            loss_fn(model(X_train[batch]), y_train[batch]).backward()
            optimizer.step()
        """
    )
    run = track(digits, loop, "steps")
    assert run.metrics["steps"] == 4 and run.metrics["epochs"] == 0
    assert curve(run, "train_loss").step.tolist() == [0, 1, 2, 3]


def test_a_failed_cell_keeps_the_curves_but_logs_no_model(digits):
    loop = MODEL + textwrap.dedent(
        """\
        for epoch in range(3):
            optimizer.zero_grad()
            loss_fn(model(X_train), y_train).backward()
            optimizer.step()
        raise RuntimeError("diverged")
        """
    )
    result = digits.run_cell(f"%%mlops_track -n failed\n{loop}")
    assert not result.success
    (run,) = runs()
    assert run.status == "FAILED" and run.metrics["steps"] == 3
    assert not [a for a in run.artifacts if a.startswith("model/")]


def test_hooks_are_gone_after_the_cell_and_no_autolog_logs_nothing(digits):
    original_backward = torch.Tensor.backward
    loop = MODEL + "loss_fn(model(X_train), y_train).backward()\noptimizer.step()\n"
    run = track(digits, loop, "off", "--no-autolog")
    assert "optimizer_name" not in run.params and "train_loss" not in run.metrics
    track(digits, loop, "on")
    assert torch.Tensor.backward is original_backward
    assert not torch.nn.modules.module._global_forward_hooks
    assert not torch.nn.modules.module._global_forward_pre_hooks
    # outside a tracked cell, training logs nothing anywhere
    assert digits.run_cell(loop).success
    assert len(runs()) == 2


def test_a_model_the_cell_logs_itself_is_not_logged_twice(digits):
    loop = MODEL + textwrap.dedent(
        """\
        import jupyter_mlops as mlops
        for epoch in range(2):
            optimizer.zero_grad()
            loss_fn(model(X_train), y_train).backward()
            optimizer.step()
        uri = mlops.log_model(model, "classifier", input_example=X_train[:3].numpy())
        """
    )
    run = track(digits, loop, "own")
    assert sorted({a.split("/")[0] for a in run.artifacts if "MLmodel" in a}) == ["classifier"]


def test_a_start_run_training_over_two_cells_continues_the_epochs(digits):
    assert digits.run_cell(MODEL).success
    digits.run_line_magic("mlops_track", "start -n span")
    loop = textwrap.dedent(
        """\
        for epoch in range(2):
            optimizer.zero_grad()
            loss_fn(model(X_train), y_train).backward()
            optimizer.step()
        """
    )
    assert digits.run_cell(loop).success
    assert digits.user_ns["model"].training  # logging the model left it in training mode
    assert digits.run_cell(loop).success
    digits.run_line_magic("mlops_track", "stop")
    (run,) = runs()
    assert curve(run, "train_loss").step.tolist() == [0, 1, 2, 3]
    assert run.metrics["epochs"] == 4 and run.metrics["steps"] == 4
    assert "model/MLmodel.json" in run.artifacts  # logged after the first cell that trained
