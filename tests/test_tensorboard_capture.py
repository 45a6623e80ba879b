"""SummaryWriter calls inside a run also land in the run; the writer's own files stay intact."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import matplotlib
import pytest
from magic_fixtures import runs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

import jupyter_mlops as mlops

matplotlib.use("Agg")


def scalars(folder, tag):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, round(e.value, 6)) for e in acc.Scalars(tag)]


def test_scalars_figures_text_and_hparams_go_into_the_run(store_dir, tmp_path):
    import matplotlib.pyplot as plt

    with mlops.start_run(name="captured") as run:
        writer = SummaryWriter(str(tmp_path / "tb" / "train"))
        val = SummaryWriter(str(tmp_path / "tb" / "val"))
        for step in range(5):
            writer.add_scalar("loss", 1 / (step + 1), step, walltime=1_700_000_000 + step)
            val.add_scalar("loss", 2 / (step + 1), step)
        writer.add_scalars("lr", {"head": 0.1, "body": 0.01}, 4)
        figure = plt.figure()
        plt.plot([1, 2, 3])
        writer.add_figure("curve", figure, 4)
        writer.add_text("notes", "first", 0)
        writer.add_text("notes", "second", 1)
        writer.add_hparams({"lr": 0.1, "batch": 32}, {"hp/accuracy": 0.9})
        writer.close()
        val.close()
    got = mlops.get_run(run.id)
    assert got.params == {"lr": "0.1", "batch": "32"}
    assert set(got.metrics) == {"loss", "val/loss", "lr/head", "lr/body", "hp/accuracy"}
    history = mlops.get_metric_history(run.id, "loss")
    assert history.step.tolist() == [0, 1, 2, 3, 4]
    assert history.timestamp.tolist() == [(1_700_000_000 + s) * 1000 for s in range(5)]
    assert mlops.get_metric_history(run.id, "val/loss").value.tolist()[-1] == 0.4
    assert "tensorboard/figures/curve/step-4.png" in got.artifacts
    with open(mlops.get_store().artifact_file(run.id, "tensorboard/text/notes.md")) as fh:
        assert fh.read() == "## step 0\n\nfirst\n\n## step 1\n\nsecond\n"
    # the writer's own event files are complete
    assert scalars(tmp_path / "tb" / "train", "loss")[-1] == (4, 0.2)
    assert scalars(tmp_path / "tb" / "val", "loss") == [
        (s, round(2 / (s + 1), 6)) for s in range(5)
    ]
    assert len(runs()) == 1  # add_hparams' own inner writer added nothing


def test_several_configurations_in_one_run_become_nested_runs(store_dir, tmp_path):
    with mlops.start_run(name="grid") as run, SummaryWriter(str(tmp_path / "tb")) as writer:
        for lr in (0.1, 0.01, 0.001):
            writer.add_hparams({"lr": lr}, {"hp/loss": lr * 10}, run_name=f"lr={lr}")
    children = sorted((r for r in runs() if r.parent_run_id == run.id), key=lambda r: r.name)
    assert mlops.get_run(run.id).params == {"lr": "0.1"}
    assert [(c.name, c.params["lr"], c.metrics["hp/loss"]) for c in children] == [
        ("lr=0.001", "0.001", pytest.approx(0.01)),
        ("lr=0.01", "0.01", pytest.approx(0.1)),
    ]


def test_outside_a_run_the_writer_logs_nothing(store_dir, tmp_path):
    with SummaryWriter(str(tmp_path / "tb")) as writer:
        writer.add_scalar("loss", 1.0, 0)
    assert runs() == []
    assert scalars(tmp_path / "tb", "loss") == [(0, 1.0)]


def test_a_tracked_cell_captures_the_unchanged_training_loop(shell, tmp_path):
    cell = textwrap.dedent(
        f"""\
        %%mlops_track -n tb-cell
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter({str(tmp_path / "runs")!r})
        for epoch in range(3):
            writer.add_scalar("Loss/train", 1.0 / (epoch + 1), epoch)
            writer.add_scalar("Loss/val", 1.2 / (epoch + 1), epoch)
        writer.close()
        """
    )
    assert shell.run_cell(cell).success
    (run,) = runs()
    assert run.name == "tb-cell"
    assert mlops.get_metric_history(run.id, "Loss/val").step.tolist() == [0, 1, 2]
    assert scalars(tmp_path / "runs", "Loss/train")[-1] == (2, round(1 / 3, 6))


def test_a_writer_imported_after_the_run_started_is_captured(store_dir, tmp_path):
    script = textwrap.dedent(
        f"""\
        import sys
        import jupyter_mlops as mlops
        assert "torch.utils.tensorboard.writer" not in sys.modules
        with mlops.start_run(name="late") as run:
            from torch.utils.tensorboard import SummaryWriter
            with SummaryWriter({str(tmp_path / "tb")!r}) as writer:
                writer.add_scalar("loss", 0.5, 7)
        print(mlops.get_metric_history(run.id, "loss").step.tolist())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[7]"


def test_a_failing_capture_warns_once_and_the_writer_still_writes(store_dir, tmp_path):
    tag = "loss\nraw"  # TensorBoard takes any tag; a metric key has no line breaks
    with mlops.start_run(name="bad"), SummaryWriter(str(tmp_path / "tb")) as writer:
        with pytest.warns(RuntimeWarning, match="could not log SummaryWriter.add_scalar") as seen:
            writer.add_scalar(tag, 1.0, 0)
            writer.add_scalar(tag, 2.0, 1)
    assert len(seen) == 1
    assert len(scalars(tmp_path / "tb", tag)) == 2
