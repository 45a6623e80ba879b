"""%mlops_tensorboard: exports, follows live, starts TensorBoard on 127.0.0.1, prints a link."""

from __future__ import annotations

import json
import sys
import urllib.request

import pytest
from IPython.core.error import UsageError

import jupyter_mlops as mlops
from jupyter_mlops.tensorboard import live, server


@pytest.fixture
def tensorboard_shell(shell):
    yield shell
    shell.run_line_magic("mlops_tensorboard", "--stop")


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_the_magic_serves_the_experiment_and_follows_new_runs(tensorboard_shell, tmp_path):
    with mlops.start_run(name="first", experiment="digits") as first:
        mlops.log_metric("train_loss", 1.0)
    logdir = tmp_path / "tb"
    shown = tensorboard_shell.run_line_magic("mlops_tensorboard", f"-e digits --logdir {logdir}")
    (running,) = server.running_servers()
    assert repr(shown) == (
        f"TensorBoard at {running.url} over {logdir} (1 run of 'digits' experiment, "
        "following new ones)"
    )
    html = shown._repr_html_()
    assert f'<a href="{running.url}" target="_blank"' in html and "<iframe" not in html
    assert running.url.startswith("http://127.0.0.1:")
    assert list(get_json(running.url + "data/runs")) == [f"digits/first-{first.id[:8]}"]
    again = tensorboard_shell.run_line_magic("mlops_tensorboard", f"-e digits --logdir {logdir}")
    assert server.running_servers() == [running] and again.url == running.url
    (exporter,) = live._exporters.values()
    with mlops.start_run(name="second", experiment="digits") as second:
        mlops.log_metric("train_loss", 0.5)
        assert exporter.sync() == 1  # what the live thread does every two seconds
    assert (logdir / "digits" / f"second-{second.id[:8]}").is_dir()


def test_stop_ends_tensorboard_and_the_live_export(tensorboard_shell, tmp_path, capsys):
    tensorboard_shell.run_line_magic("mlops_tensorboard", f"--logdir {tmp_path / 'tb'}")
    assert len(server.running_servers()) == 1
    tensorboard_shell.run_line_magic("mlops_tensorboard", "--stop")
    assert server.running_servers() == [] and live._exporters == {}
    assert capsys.readouterr().out.strip().endswith("stopped 1 TensorBoard and the live export")


def test_mistakes_are_one_line(tensorboard_shell, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        tensorboard_shell.run_line_magic("mlops_tensorboard", f"--logdir {tmp_path / 'file'}")
    with pytest.raises(UsageError, match="No experiment named 'nope'"):
        tensorboard_shell.run_line_magic("mlops_tensorboard", f"-e nope --logdir {tmp_path}")
    with pytest.raises(UsageError, match="argument -p/--port: invalid int value"):
        tensorboard_shell.run_line_magic("mlops_tensorboard", "-p sixty")


def test_without_tensorboard_the_magic_and_import_say_what_to_install(
    tensorboard_shell, tmp_path, monkeypatch
):
    from jupyter_mlops.errors import InvalidInput
    from jupyter_mlops.tensorboard.importer import import_logdir

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    with pytest.raises(UsageError, match=r"pip install 'jupyter-mlops\[tensorboard\]'"):
        tensorboard_shell.run_line_magic("mlops_tensorboard", f"--logdir {tmp_path / 'tb'}")
    assert not (tmp_path / "tb").exists()  # nothing written before the check
    with pytest.raises(InvalidInput, match=r"pip install 'jupyter-mlops\[tensorboard\]'"):
        import_logdir(tmp_path)
