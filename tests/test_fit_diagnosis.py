"""Overfitting and underfitting flags from training and validation curves (the documented rule)."""

from __future__ import annotations

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.tracking import fluent
from jupyter_mlops.viz.fit_diagnosis import diagnose_fit, diagnose_runs, metric_pairs

STEPS = list(range(10))
FALLING = [2.0, 1.5, 1.1, 0.8, 0.6, 0.45, 0.35, 0.28, 0.22, 0.18]
U_SHAPE = [2.0, 1.6, 1.2, 0.9, 0.7, 0.65, 0.7, 0.8, 0.9, 1.0]  # best at step 5
PLATEAU_HIGH = [2.30, 2.20, 2.15, 2.12, 2.11, 2.105, 2.10, 2.10, 2.099, 2.098]


def curves(**named):
    return {key: (STEPS[: len(values)], values) for key, values in named.items()}


@pytest.mark.parametrize(
    ("keys", "pairs"),
    [
        (["train_loss", "val_loss"], [("train_loss", "val_loss")]),
        (["loss", "val_loss", "accuracy", "val_accuracy"],
         [("accuracy", "val_accuracy"), ("loss", "val_loss")]),
        (["Loss/train", "Loss/validation"], [("Loss/train", "Loss/validation")]),
        (["train/acc", "eval/acc", "test/acc"], [("train/acc", "eval/acc")]),
        (["trainLoss", "valLoss"], [("trainLoss", "valLoss")]),
        (["loss", "train_loss", "val_loss"], [("train_loss", "val_loss")]),
        (["val_loss"], []),
        (["system/cpu_utilization_percentage", "loss"], []),
    ],
)  # fmt: skip
def test_curves_are_paired_by_their_role_words(keys, pairs):
    assert metric_pairs(keys) == pairs


def test_validation_worsening_while_training_improves_is_overfitting():
    (flag,) = diagnose_fit(curves(train_loss=FALLING, val_loss=U_SHAPE))
    assert (flag.kind, flag.train_metric, flag.val_metric, flag.step) == (
        "overfitting", "train_loss", "val_loss", 5,
    )  # fmt: skip
    assert flag.message == (
        "overfitting: val_loss is worse than its best (step 5) for 4 evaluations while "
        "train_loss keeps improving; stop near step 5"
    )


def test_patience_decides_how_many_worse_evaluations_it_takes():
    early = curves(train_loss=FALLING[:8], val_loss=U_SHAPE[:8])  # two evaluations past the best
    assert diagnose_fit(early) == []
    assert diagnose_fit(early, patience=2)[0].kind == "overfitting"


def test_noise_around_the_best_is_not_overfitting():
    jitter = [2.0, 1.2, 0.8, 0.6, 0.5, 0.49, 0.5, 0.495, 0.5, 0.505]
    assert diagnose_fit(curves(train_loss=FALLING, val_loss=jitter)) == []


def test_accuracy_curves_flip_the_direction():
    val_acc = [1 - v / 2.5 for v in U_SHAPE]  # rises, then falls
    train_acc = [1 - v / 2.5 for v in FALLING]
    (flag,) = diagnose_fit(curves(train_accuracy=train_acc, val_accuracy=val_acc))
    assert flag.kind == "overfitting" and flag.step == 5


def test_both_flat_and_high_is_underfitting():
    val = [v + 0.05 for v in PLATEAU_HIGH]
    (flag,) = diagnose_fit(curves(train_loss=PLATEAU_HIGH, val_loss=val))
    assert (flag.kind, flag.step) == ("underfitting", 9)
    assert flag.message.startswith("underfitting: train_loss and val_loss are flat and still high")


def test_flat_but_low_is_a_good_fit_and_so_is_still_falling():
    low = [2.0, 0.5, 0.12, 0.1, 0.1, 0.099, 0.099, 0.098, 0.098, 0.098]
    assert diagnose_fit(curves(train_loss=low, val_loss=[v * 1.1 for v in low])) == []
    assert diagnose_fit(curves(train_loss=FALLING, val_loss=[v * 1.1 for v in FALLING])) == []


def test_low_accuracy_that_stopped_moving_is_underfitting():
    acc = [0.10, 0.20, 0.25, 0.27, 0.28, 0.28, 0.281, 0.28, 0.281, 0.281]
    (flag,) = diagnose_fit(curves(train_acc=acc, val_acc=[a - 0.01 for a in acc]))
    assert flag.kind == "underfitting"


def test_too_few_shared_steps_give_no_verdict():
    assert diagnose_fit(curves(train_loss=FALLING[:3], val_loss=U_SHAPE[:3])) == []
    per_step = {"train_loss": (list(range(100, 110)), FALLING), "val_loss": (STEPS, U_SHAPE)}
    assert diagnose_fit(per_step) == []


def test_runs_are_diagnosed_from_the_store(store_dir):
    with mlops.start_run(name="over") as over:
        for t, v in zip(FALLING, U_SHAPE, strict=True):
            mlops.log_metrics({"train_loss": t, "val_loss": v})
    with mlops.start_run(name="fine") as fine:
        mlops.log_metric("accuracy", 0.9)
    flags = diagnose_runs(fluent.find_runs())
    assert [f.kind for f in flags[over.id]] == ["overfitting"] and flags[fine.id] == []


def test_both_curves_getting_worse_is_divergence_not_overfitting():
    diverging = [v + 0.5 for v in U_SHAPE]
    assert diagnose_fit(curves(train_loss=diverging, val_loss=U_SHAPE)) == []


def test_the_run_page_section(store_dir):
    from jupyter_mlops.viz.fit_diagnosis import fit_section

    with mlops.start_run(name="over") as over:
        for t, v in zip(FALLING, U_SHAPE, strict=True):
            mlops.log_metrics({"train_loss": t, "val_loss": v})
    with mlops.start_run(name="fine") as fine:
        for t in FALLING:
            mlops.log_metrics({"train_loss": t, "val_loss": t * 1.1})
    with mlops.start_run(name="alone") as alone:
        mlops.log_metric("accuracy", 0.9)
    docs = {d["run_id"]: d for d in fluent.find_runs()}
    assert fit_section(docs[over.id]) == {
        "overfitting": "val_loss is worse than its best (step 5) for 4 evaluations while "
        "train_loss keeps improving; stop near step 5"
    }
    assert fit_section(docs[fine.id]) == {
        "verdict": "no overfitting or underfitting flag (train_loss / val_loss)"
    }
    assert fit_section(docs[alone.id]) is None
