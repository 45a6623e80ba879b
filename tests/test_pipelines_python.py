"""The ``python`` target end to end: export, run, cache, parameters, tracking, faithfulness, CLI."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time

import pytest
import test_pipelines_fixtures as fx

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput, MlopsError, NotFound
from jupyter_mlops.pipelines import build_pipeline, export_notebook, run_pipeline
from jupyter_mlops.pipelines.cli import add_commands
from jupyter_mlops.pipelines.codegen import _ruff

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def export_plain(tmp_path) -> str:
    notebook = fx.copy("plain", tmp_path)
    export_notebook(notebook, "python")
    return str(tmp_path / "plain_python")


def ran(result) -> dict[str, bool]:
    return {s.name: not s.cached for s in result.steps}


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# -- the exported folder -------------------------------------------------------------------------
def test_export_writes_a_readable_folder_and_leaves_the_notebook_alone(tmp_path):
    notebook = fx.copy("tagged", tmp_path)
    before, mtime = sha(notebook), os.path.getmtime(notebook)
    files = export_notebook(notebook, "python", tmp_path / "out")
    assert (sha(notebook), os.path.getmtime(notebook)) == (before, mtime)
    names = sorted(os.path.relpath(f, tmp_path / "out") for f in files)
    assert names == [
        "README.md",
        "pipeline.py",
        "requirements.txt",
        "steps/evaluate.py",
        "steps/features.py",
        "steps/load.py",
        "steps/train.py",
    ]
    train = (tmp_path / "out" / "steps" / "train.py").read_text()
    assert train.startswith('"""Step ``train`` of the pipeline ``tagged``: cell 9 of tagged.ipynb.')
    assert "def run(inputs):" in train and 'C = inputs["C"]' in train
    assert 'return {"model": model, "n_fits": n_fits}' in train
    requirements = (tmp_path / "out" / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "pandas==" in requirements
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "jupyter mlops run-pipeline" in readme and "- `train` (cell 9) after features" in readme


@pytest.mark.parametrize("target", ["python", "airflow", "kfp"])
def test_generated_code_is_formatted_and_defines_every_name_it_uses(tmp_path, target):
    for name in ("tagged", "headings", "magics"):
        files = export_notebook(fx.copy(name, tmp_path), target, tmp_path / f"{name}_{target}")
        py = [f for f in files if f.endswith(".py")]
        ruff = [_ruff(), "--isolated"]
        fmt = subprocess.run([*ruff[:1], "format", "--check", *ruff[1:], "--line-length=100", *py])
        assert fmt.returncode == 0
        undefined = subprocess.run(
            [*ruff[:1], "check", *ruff[1:], "--select=F821,E9", *py], capture_output=True, text=True
        )
        assert undefined.returncode == 0, undefined.stdout


def test_re_export_removes_steps_that_no_longer_exist(tmp_path):
    first = fx.make(tmp_path, [("x = 1", ["block:old"]), ("y = x", ["block:keep"])])
    export_notebook(first, "python", tmp_path / "out")
    (tmp_path / "out" / "steps" / "mine.py").write_text("# not generated\n")
    second = fx.make(tmp_path, [("x = 1", ["block:new"]), ("y = x", ["block:keep"])])
    export_notebook(second, "python", tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out" / "steps")) == ["keep.py", "mine.py", "new.py"]


# -- faithful: the same values as the notebook run top to bottom ---------------------------------
@pytest.mark.parametrize("name", ["tagged", "headings", "magics"])
def test_python_target_gives_the_values_of_the_notebook_run_top_to_bottom(
    tmp_path, tracking_store, name
):
    in_kernel = fx.copy(name, tmp_path / "kernel")
    exported = fx.copy(name, tmp_path / "export")
    pipeline = build_pipeline(exported)
    expected = fx.execute_with_captures(in_kernel, pipeline, str(tmp_path / "kernel"))
    export_notebook(exported, "python")
    result = run_pipeline(tmp_path / "export" / f"{name}_python")
    compared = 0
    for step in pipeline.steps:
        for output in step.outputs:
            fx.assert_same(expected[step.name][output], result.value(step.name, output), output)
            compared += 1
    assert compared >= 2


def test_multiline_strings_keep_their_text_inside_the_step_function(tmp_path, tracking_store):
    notebook = fx.make(
        tmp_path,
        [
            ('text = """first\n  second\nthird"""\nb = b"x\\\ny"', ["block:a"]),
            ("n = len(text)", ["block:b"]),
        ],
    )
    export_notebook(notebook, "python")
    result = run_pipeline(tmp_path / "nb_python")
    assert result.value("a", "text") == "first\n  second\nthird"


# -- the runner ----------------------------------------------------------------------------------
def test_rerun_skips_unchanged_steps_and_parameters_rerun_only_what_they_touch(
    tmp_path, tracking_store
):
    folder = export_plain(tmp_path)
    first = run_pipeline(folder)
    assert ran(first) == {"make": True, "transform": True, "evaluate": True}
    assert first.metrics == {"score": 9.0} and first.value("transform", "doubled") == [
        0,
        3,
        6,
        9,
        12,
    ]
    started = time.perf_counter()
    again = run_pipeline(folder)
    assert ran(again) == {"make": False, "transform": False, "evaluate": False}
    assert time.perf_counter() - started < 2 and again.metrics == {"score": 9.0}
    same = run_pipeline(folder, {"factor": "3"})  # the default, given as text
    assert not any(ran(same).values())
    changed = run_pipeline(folder, {"factor": "4"})
    assert ran(changed) == {"make": False, "transform": True, "evaluate": True}
    assert changed.parameters == {"n": 5, "factor": 4} and changed.metrics == {"score": 11.0}


def test_changed_code_reruns_the_step_and_content_hashes_stop_the_ripple(tmp_path, tracking_store):
    folder = export_plain(tmp_path)
    run_pipeline(folder)
    with open(os.path.join(folder, "steps", "transform.py"), "a") as fh:
        fh.write("# a comment changes the code, not the values\n")
    assert ran(run_pipeline(folder)) == {"make": False, "transform": True, "evaluate": False}
    os.remove(os.path.join(folder, "data", "make", "values.json"))
    assert ran(run_pipeline(folder)) == {"make": True, "transform": False, "evaluate": False}
    assert all(ran(run_pipeline(folder, force=True)).values())


def test_each_pipeline_run_is_tracked_with_a_child_run_per_step(tmp_path, tracking_store):
    folder = export_plain(tmp_path)
    run_pipeline(folder, {"n": 3})
    result = run_pipeline(folder, {"n": 3})
    parent = mlops.get_run(result.run_id)
    assert (parent.name, parent.experiment, parent.status) == ("plain", "plain", "FINISHED")
    assert parent.params == {"n": "3", "factor": "3"}
    assert parent.metrics["score"] == 6.0
    assert (parent.metrics["steps_run"], parent.metrics["steps_cached"]) == (0, 3)
    assert parent.tags["mlops.pipeline"] == "plain"
    children = [mlops.get_run(s.run_id) for s in result.steps]
    assert [c.name for c in children] == ["make", "transform", "evaluate"]
    assert all(c.parent_run_id == parent.id for c in children)
    assert [c.tags["mlops.pipeline.cached"] for c in children] == ["true"] * 3
    assert children[0].params == {"n": "3"} and children[1].params == {"factor": "3"}
    assert children[2].metrics["score"] == 6.0 and "duration_s" in children[2].metrics
    frame = mlops.search_runs(["plain"], filter="tags.mlops.pipeline = 'plain'")
    assert len(frame) == 2


def test_a_failing_step_fails_its_runs_and_keeps_the_cache_of_the_others(tmp_path, tracking_store):
    notebook = fx.make(
        tmp_path, [("n = 0", ["parameters"]), ("x = 10", ["block:a"]), ("y = x / n", ["block:b"])]
    )
    export_notebook(notebook, "python")
    folder = tmp_path / "nb_python"
    with pytest.raises(ZeroDivisionError) as info:
        run_pipeline(folder)
    assert "in step 'b' of pipeline 'nb'" in "".join(getattr(info.value, "__notes__", [""]))
    failed = mlops.search_runs(["nb"], filter="attributes.status = 'FAILED'")
    assert sorted(failed["run_name"]) == ["b", "nb"]
    assert ran(run_pipeline(folder, {"n": "2"})) == {"a": False, "b": True}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nope": "1"}, "Unknown parameter 'nope'; this pipeline's parameters: n, factor."),
        ({"n": "five"}, "Parameter 'n' takes a int (default 5), not 'five'."),
    ],
)
def test_bad_parameters(tmp_path, tracking_store, params, message):
    folder = export_plain(tmp_path)
    with pytest.raises(InvalidInput) as info:
        run_pipeline(folder, params)
    assert str(info.value) == message


def test_not_an_exported_folder(tmp_path):
    with pytest.raises(NotFound, match="is not an exported pipeline"):
        run_pipeline(tmp_path)


# -- command line --------------------------------------------------------------------------------
def cli(capsys, *argv) -> tuple[int, str, str]:
    """What ``jupyter mlops ...`` does with our subcommands (as jupyter_mlops.cli.main does)."""
    parser = argparse.ArgumentParser(prog="jupyter mlops")
    parser.add_argument("--store")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except MlopsError as e:
        print(f"jupyter mlops {args.command}: {e}", file=sys.stderr)
        code = 2
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_and_run_pipeline(tmp_path, tracking_store, capsys):
    notebook = fx.copy("plain", tmp_path)
    code, out, _ = cli(capsys, "export", notebook, "--to", "python", "-o", str(tmp_path / "p"))
    assert code == 0 and out.startswith("✓ exported plain.ipynb → ") and "run-pipeline" in out
    code, out, _ = cli(capsys, "run-pipeline", str(tmp_path / "p"), "-p", "n=2", "-p", "factor=1")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 4 and lines[0].startswith("✓ make")
    assert "3 ran, 0 cached · score=3.5" in lines[-1]
    code, out, _ = cli(capsys, "run-pipeline", str(tmp_path / "p"), "-p", "n=2", "-p", "factor=1")
    assert "0 ran, 3 cached" in out and out.splitlines()[0].startswith("↷ make")


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "x.ipynb"
    bad.write_text("nope")
    code, _, err = cli(capsys, "export", str(bad), "--to", "airflow")
    assert code == 2 and err.count("\n") == 1 and "is not a Jupyter notebook" in err
    code, _, err = cli(capsys, "run-pipeline", str(tmp_path), "-p", "novalue")
    assert code == 2 and "must look like KEY=VALUE" in err


def test_pipeline_py_runs_itself(tmp_path, tracking_store):
    folder = export_plain(tmp_path)
    env = {**os.environ, "PYTHONPATH": REPO, "JUPYTER_MLOPS_STORE": tracking_store}
    done = subprocess.run(
        [sys.executable, os.path.join(folder, "pipeline.py"), "-p", "n=4"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 ran, 0 cached · score=7.5" in done.stdout


def test_kfp_export_refuses_a_parameter_kubeflow_cannot_type(tmp_path):
    notebook = fx.make(tmp_path, [("limit = None", ["parameters"]), ("x = limit", ["block:a"])])
    with pytest.raises(InvalidInput, match="Parameter 'limit' = None: Kubeflow parameters are"):
        export_notebook(notebook, "kfp")
