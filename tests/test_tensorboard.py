"""TensorBoard export and import, checked with TensorBoard's own readers and server."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import urllib.request

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.hparams import metadata

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.tensorboard import events as ev
from jupyter_mlops.tensorboard.export import export_runs
from jupyter_mlops.tensorboard.importer import import_logdir
from jupyter_mlops.tensorboard.live import LiveExporter
from jupyter_mlops.tensorboard.server import start_tensorboard, stop_tensorboard


def log_training(name, lr, experiment="digits", epochs=5):
    with mlops.start_run(name=name, experiment=experiment) as run:
        mlops.log_params({"lr": lr, "optimizer": "sgd", "shuffle": True, "layers": 2})
        for epoch in range(epochs):
            mlops.log_metrics({"train_loss": 1 / (epoch + 1), "val_loss": 1.5 / (epoch + 1)})
    return run


def accumulator(path):
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def run_folders(logdir):
    files = glob.glob(f"{logdir}/**/events.out.tfevents.*", recursive=True)
    return sorted(os.path.relpath(os.path.dirname(p), logdir) for p in files)


# -- the file format --------------------------------------------------------------------------
def test_records_and_messages_decode_with_tensorboards_own_classes():
    for data in (b"", b"hello", bytes(range(256)) * 3):
        assert ev.masked_crc32c(data) == masked_crc32c(data)
    body = ev.summary([ev.scalar_value("Loss/train", 0.25), ev.session_start({"lr": 0.1}, 3.0)])
    event = event_pb2.Event.FromString(ev.event(12.5, -3, summary=body))
    assert (event.wall_time, event.step) == (12.5, -3)
    assert (event.summary.value[0].tag, event.summary.value[0].simple_value) == ("Loss/train", 0.25)
    start = event.summary.value[1]
    assert start.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME
    info = metadata.parse_session_start_info_plugin_data(start.metadata.plugin_data.content)
    assert info.hparams["lr"].number_value == 0.1 and info.start_time_secs == 3.0
    end = event_pb2.Event.FromString(ev.event(1.0, summary=ev.summary([ev.session_end(2, 9.0)])))
    content = end.summary.value[0].metadata.plugin_data.content
    assert metadata.parse_session_end_info_plugin_data(content).status == 2


def test_params_read_as_numbers_booleans_or_text():
    assert [ev.hparam(v) for v in ("0.1", "3", "True", "false", "sgd", "nan", "[1, 2]")] == [
        0.1, 3.0, True, False, "sgd", "nan", "[1, 2]",
    ]  # fmt: skip


# -- export -------------------------------------------------------------------------------------
def test_export_is_read_back_by_event_accumulator(store_dir, tmp_path):
    fast, slow = log_training("fast", 0.1), log_training("slow", 0.01)
    result = export_runs(tmp_path / "logs", ["digits"])
    logdir = result.logdir
    assert run_folders(logdir) == [f"digits/fast-{fast.id[:8]}", f"digits/slow-{slow.id[:8]}"]
    assert result.added == 20 and str(result) == f"2 runs in {logdir} (20 new points)"
    acc = accumulator(os.path.join(logdir, f"digits/fast-{fast.id[:8]}"))
    assert set(acc.Tags()["scalars"]) == {"train_loss", "val_loss"}
    points = acc.Scalars("val_loss")
    assert [p.step for p in points] == [0, 1, 2, 3, 4]
    assert [round(p.value, 6) for p in points] == [1.5, 0.75, 0.5, 0.375, 0.3]
    history = mlops.get_metric_history(fast.id, "val_loss")
    assert [round(p.wall_time * 1000) for p in points] == history.timestamp.tolist()
    hparams = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(hparams[metadata.SESSION_START_INFO_TAG])
    assert dict(start.hparams)["lr"].number_value == 0.1
    assert dict(start.hparams)["optimizer"].string_value == "sgd"
    assert dict(start.hparams)["shuffle"].bool_value is True
    end = metadata.parse_session_end_info_plugin_data(hparams[metadata.SESSION_END_INFO_TAG])
    assert end.status == 1  # STATUS_SUCCESS


def test_exporting_again_appends_only_what_is_new(store_dir, tmp_path):
    log_training("a", 0.1)
    with mlops.start_run(name="growing", experiment="digits") as run:
        mlops.log_metric("train_loss", 2.0)
        first = export_runs(tmp_path / "logs")
        path = next(r.path for r in first.runs if r.run_id == run.id)
        size = os.path.getsize(path)
        assert export_runs(tmp_path / "logs").added == 0 and os.path.getsize(path) == size
        mlops.log_metric("train_loss", 1.0)
        again = export_runs(tmp_path / "logs")
    assert again.added == 1
    with open(path, "rb") as fh:  # appended, never rewritten: a watching TensorBoard keeps up
        assert fh.read(size) == open(path, "rb").read(size)
    assert [p.value for p in accumulator(os.path.dirname(path)).Scalars("train_loss")] == [2, 1]
    assert metadata.SESSION_START_INFO_TAG not in accumulator(os.path.dirname(path)).Tags().get(
        "tensors", []
    )  # hparams come once the run has ended
    export_runs(tmp_path / "logs")
    tags = accumulator(os.path.dirname(path)).PluginTagToContent(metadata.PLUGIN_NAME)
    assert metadata.SESSION_START_INFO_TAG in tags


def test_a_torn_last_record_is_cut_before_appending(store_dir, tmp_path):
    run = log_training("a", 0.1, epochs=3)
    (exported,) = export_runs(tmp_path / "logs").runs
    with open(exported.path, "ab") as fh:
        fh.write(b"\x20\x00\x00\x00\x00\x00\x00\x00garbage")  # a process killed mid-write
    with mlops.start_run(name="other", experiment="digits"):
        pass
    doc = mlops.get_store().get_run(run.id)
    mlops.get_store().log_metric_points(run.id, [("train_loss", 0.1, 3, doc["end_time"])])
    export_runs(tmp_path / "logs")
    values = [p.value for p in accumulator(os.path.dirname(exported.path)).Scalars("train_loss")]
    assert [round(v, 4) for v in values] == [1.0, 0.5, 0.3333, 0.1]


def test_export_refuses_a_file_as_the_folder(store_dir, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InvalidInput, match="is a file, not a folder"):
        export_runs(target)
    with pytest.raises(InvalidInput, match=r"Cannot create .*file/logs \(Not a directory\)"):
        export_runs(target / "logs")


def test_live_export_follows_a_run_while_it_logs(store_dir, tmp_path):
    exporter = LiveExporter(tmp_path / "live", ["digits"])  # driven by hand: no timing
    assert exporter.sync() == 0  # the experiment does not exist yet
    with mlops.start_run(name="live", experiment="digits") as run:
        mlops.log_metric("train_loss", 3.0)
        assert exporter.sync() == 1
        mlops.log_metric("train_loss", 2.0)
        mlops.log_param("lr", 0.5)
        assert exporter.sync() == 1
    exporter.sync()  # the run ended: hparams now
    (folder,) = run_folders(exporter.logdir)
    acc = accumulator(os.path.join(exporter.logdir, folder))
    assert [p.value for p in acc.Scalars("train_loss")] == [3.0, 2.0]
    assert folder == f"digits/live-{run.id[:8]}"
    assert metadata.SESSION_END_INFO_TAG in acc.PluginTagToContent(metadata.PLUGIN_NAME)
    assert exporter.sync() == 0 and exporter.running == {}


def test_tensorboard_serves_the_export(store_dir, tmp_path):
    fast, slow = log_training("fast", 0.1), log_training("slow", 0.01)
    logdir = export_runs(tmp_path / "logs").logdir
    server = start_tensorboard(logdir)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert start_tensorboard(logdir) == server  # reused
        runs = get_json(server.url + "data/runs")
        assert sorted(runs) == [f"digits/fast-{fast.id[:8]}", f"digits/slow-{slow.id[:8]}"]
        query = f"tag=val_loss&run=digits/slow-{slow.id[:8]}"
        scalars = get_json(f"{server.url}data/plugin/scalars/scalars?{query}")
        assert [row[1] for row in scalars] == [0, 1, 2, 3, 4]
        groups = post_json(
            server.url + "data/plugin/hparams/session_groups",
            {"experimentName": "", "allowedStatuses": ["STATUS_SUCCESS"], "colParams": [],
             "startIndex": 0, "sliceSize": 10},
        )["sessionGroups"]  # fmt: skip
        by_run = {g["name"]: g["hparams"] for g in groups}
        assert by_run[f"digits/fast-{fast.id[:8]}"] == {
            "lr": 0.1, "optimizer": "sgd", "shuffle": True, "layers": 2,
        }  # fmt: skip
    finally:
        assert stop_tensorboard(logdir) == [server]


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def post_json(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


# -- import -------------------------------------------------------------------------------------
def write_with_summary_writer(logdir):
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir / "mnist")) as writer:
        for step in range(10):
            writer.add_scalar("Loss/train", 1 / (step + 1), step)
            writer.add_scalar("Loss/val", 2 / (step + 1), step)
        writer.add_text("notes", "two **layers**", 3)
        writer.add_image("sample", np.zeros((3, 4, 4)), 0)
        writer.add_hparams({"lr": 0.1, "batch": 32, "opt": "adam"}, {"hp/acc": 0.9}, run_name="hp")


def test_import_turns_event_files_into_runs_and_twice_adds_nothing(store_dir, tmp_path):
    write_with_summary_writer(tmp_path / "tb")
    result = import_logdir(tmp_path / "tb")
    assert result.experiment == "tb" and result.skipped == ("sample (images)",)
    assert [(r.tensorboard_run, r.created, r.points) for r in result.runs] == [
        ("mnist", True, 20), ("mnist/hp", True, 1),
    ]  # fmt: skip
    frame = mlops.search_runs(["tb"], order_by="attributes.run_name")
    assert frame.run_name.tolist() == ["mnist", "mnist/hp"]
    parent, child = frame.run_id.tolist()
    assert mlops.get_metric_history(parent, "Loss/val").value.round(4).tolist()[:3] == [
        2,
        1,
        0.6667,
    ]
    hp = mlops.get_run(child)
    assert hp.params == {"lr": "0.1", "batch": "32", "opt": "adam"}
    assert hp.metrics == {"hp/acc": pytest.approx(0.9)} and hp.parent_run_id == parent
    text = open(mlops.get_store().artifact_file(parent, "tensorboard/text/notes/text_summary.md"))
    assert "## step 3" in text.read()
    again = import_logdir(tmp_path / "tb")
    assert again.added == 0 and [r.created for r in again.runs] == [False, False]
    assert len(mlops.search_runs(["tb"])) == 2


def test_importing_a_grown_log_adds_only_the_new_points(store_dir, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "tb" / "run")) as writer:
        writer.add_scalar("loss", 1.0, 0)
    import_logdir(tmp_path / "tb", experiment="grow")
    with SummaryWriter(str(tmp_path / "tb" / "run")) as writer:  # a second event file
        writer.add_scalar("loss", 0.5, 1)
    result = import_logdir(tmp_path / "tb", experiment="grow")
    assert [(r.created, r.points) for r in result.runs] == [(False, 1)]
    (run_id,) = mlops.search_runs(["grow"]).run_id
    assert mlops.get_metric_history(run_id, "loss").value.tolist() == [1.0, 0.5]


def test_export_then_import_round_trips(store_dir, tmp_path):
    original = log_training("fast", 0.1)
    export_runs(tmp_path / "logs")
    result = import_logdir(tmp_path / "logs", experiment="copy")
    (imported,) = result.runs
    run = mlops.get_run(imported.run_id)
    assert run.params == {"lr": "0.1", "optimizer": "sgd", "shuffle": "True", "layers": "2"}
    assert run.status == "FINISHED"
    assert (
        mlops.get_metric_history(run.id, "train_loss").value.round(6).tolist()
        == mlops.get_metric_history(original.id, "train_loss").value.round(6).tolist()
    )


def test_import_errors_say_what_to_give(store_dir, tmp_path):
    with pytest.raises(InvalidInput, match="is not a folder"):
        import_logdir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="No TensorBoard event files"):
        import_logdir(tmp_path / "empty")


# -- the command line ---------------------------------------------------------------------------
def cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_cli_export_and_import(store_dir, tmp_path):
    log_training("fast", 0.1)
    mlops.flush()
    done = cli("tensorboard", "export", "-e", "digits", "-o", "logs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"exported 1 run in {tmp_path / 'logs'} (10 new points)")
    done = cli("tensorboard", "import", "logs", "-e", "back", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 TensorBoard run from" in done.stdout and "1 new, 10 new points" in done.stdout
    bad = cli("tensorboard", "import", "nowhere", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "is not a folder" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("tensorboard", "export", "-e", "nope", "-o", "logs", cwd=tmp_path)
    assert bad.returncode == 2 and "No experiment named 'nope'" in bad.stderr


def test_tf2_style_scalar_tensors_are_imported_too(store_dir, tmp_path):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.scalar import metadata as scalar_metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    writer = EventFileWriter(str(tmp_path / "keras" / "train"))
    for step, value in enumerate([0.9, 0.7, 0.6]):  # what tf.summary.scalar writes in TF2
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag="epoch_loss", tensor=tensor_util.make_tensor_proto(value),
            metadata=scalar_metadata.create_summary_metadata("", ""))])  # fmt: skip
        writer.add_event(
            event_pb2.Event(wall_time=1_700_000_000 + step, step=step, summary=summary)
        )
    writer.close()
    (imported,) = import_logdir(tmp_path / "keras").runs
    history = mlops.get_metric_history(imported.run_id, "epoch_loss")
    assert history.value.round(6).tolist() == [0.9, 0.7, 0.6]
    assert history.timestamp.tolist() == [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000]
    assert mlops.get_run(imported.run_id).name == "train"
