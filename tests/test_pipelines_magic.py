"""``%mlops_export`` in a real in-process IPython shell."""

from __future__ import annotations

import os

import pytest
import test_pipelines_fixtures as fx
from IPython.core.error import UsageError

from jupyter_mlops.jupyter import magics_export


@pytest.fixture
def ip(shell):
    magics_export.register(shell)
    return shell


def test_export_a_named_notebook(ip, tmp_path, capsys):
    notebook = fx.copy("plain", tmp_path)
    ip.run_line_magic("mlops_export", f"{notebook} --to python -o {tmp_path / 'out'}")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("✓ exported plain.ipynb → ")
    assert os.path.isfile(tmp_path / "out" / "pipeline.py")


def test_export_the_current_notebook_in_one_step(ip, tmp_path, monkeypatch, capsys):
    notebook = fx.copy("plain", tmp_path)
    monkeypatch.setenv("JUPYTER_MLOPS_NOTEBOOK", notebook)
    ip.run_line_magic("mlops_export", "--to kfp --single-step")
    out = capsys.readouterr().out
    assert "kfp is not installed here: compile with `python " in out or ".yaml" in out
    module = (tmp_path / "plain_kfp" / "plain_kfp.py").read_text()
    assert module.count("@dsl.component(") == 1


def test_without_a_notebook_path_it_asks_for_one(ip):
    with pytest.raises(UsageError, match="cannot tell which notebook this is: name it"):
        ip.run_line_magic("mlops_export", "--to airflow")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x.ipynb", "%mlops_export: the following arguments are required: --to"),
        ("x.ipynb --to spark", "argument --to: invalid choice: 'spark'"),
        ("{nb} --to python", "'scale_factor' in cell 2 (step 'train')"),
        ("missing.ipynb --to python", "Notebook 'missing.ipynb' does not exist"),
    ],
)
def test_mistakes_are_one_line(ip, line, message):
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("mlops_export", line.format(nb=fx.path("unresolved")))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_help_shows_usage_and_examples():
    doc = magics_export.ExportMagics.mlops_export.__doc__
    assert "In [2]: %mlops_export --to python" in doc
    assert "--single-step" in doc and "--to {python,airflow,kfp}" in doc
