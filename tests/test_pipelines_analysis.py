"""Notebook → steps: tags, headings, dependency analysis, IPython syntax, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_pipelines_fixtures import make, path

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.pipelines import build_pipeline
from jupyter_mlops.pipelines import ipython_syntax as ips


def steps_of(pipeline) -> dict:
    return {s.name: s for s in pipeline.steps}


def inputs_of(step) -> dict[str, str]:
    return {i.name: i.source or "<parameter>" for i in step.inputs}


def error_of(notebook, **kwargs) -> str:
    with pytest.raises(InvalidInput) as info:
        build_pipeline(notebook, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "one clear line"
    return message


# -- steps from tags -----------------------------------------------------------------------------
def test_kale_tags_make_steps_with_inferred_inputs_outputs_and_edges():
    pipeline = build_pipeline(path("tagged"))
    steps = steps_of(pipeline)
    assert list(steps) == ["load", "features", "train", "evaluate"]
    assert pipeline.parameters == {"n_rows": 200, "C": 1.0, "seed": 7}
    assert steps["load"].cells == (5, 6)  # the untagged cell joined the block above
    assert inputs_of(steps["load"]) == {"n_rows": "<parameter>", "seed": "<parameter>"}
    # `noisy` (a `functions` cell) reads `seed` when called: the step that calls it gets it
    assert inputs_of(steps["features"]) == {"df": "load", "seed": "<parameter>"}
    assert inputs_of(steps["evaluate"]) == {
        "X": "features",
        "features": "features",
        "model": "train",
        "n_fits": "train",
        "y": "features",
    }
    assert steps["train"].outputs == ("model", "n_fits")
    assert steps["evaluate"].metrics == ("accuracy",)
    assert steps["evaluate"].after == ("features", "train")
    assert pipeline.metrics == ("accuracy",)
    assert "df.describe()" not in "".join(s.code for s in pipeline.steps)  # `skip`
    assert all("import numpy as np" in s.prelude for s in pipeline.steps)  # `imports` cell
    assert any(r.startswith("scikit-learn==") for r in pipeline.requirements)


def test_code_above_the_first_block_joins_it_and_names_are_sanitised(tmp_path):
    notebook = make(
        tmp_path,
        [
            "a = 1",
            ("b = a + 1", ["block:Load Data"]),
            ("c = b + 1", ["step:list", "prev:Load Data"]),
        ],
    )
    steps = steps_of(build_pipeline(notebook))
    assert list(steps) == ["load_data", "list_step"]  # `list` would shadow the builtin
    assert steps["load_data"].cells == (1, 2)
    assert steps["list_step"].after == ("load_data",)


def test_single_step_keeps_parameters_and_metrics():
    pipeline = build_pipeline(path("tagged"), single_step=True)
    (step,) = pipeline.steps
    assert step.name == "tagged"
    assert pipeline.parameters == {"n_rows": 200, "C": 1.0, "seed": 7}
    assert step.metrics == ("accuracy",)
    assert inputs_of(step) == {"C": "<parameter>", "n_rows": "<parameter>", "seed": "<parameter>"}


# -- steps from headings -------------------------------------------------------------------------
def test_untagged_notebook_splits_on_repeated_top_headings():
    steps = steps_of(build_pipeline(path("headings")))
    assert list(steps) == ["load_data", "helpers_and_cleaning", "summarize", "report"]
    assert steps["load_data"].cells == (2, 4)  # the imports above the first heading


def test_headings_of_one_level_used_once_each_and_duplicates(tmp_path):
    notebook = make(
        tmp_path,
        [("# Prepare", [], "markdown"), "x = 1", ("# Prepare", [], "markdown"), "y = x + 1"],
    )
    assert [s.name for s in build_pipeline(notebook).steps] == ["prepare", "prepare_2"]


def test_no_tags_no_headings_is_one_step_named_after_the_notebook(tmp_path):
    notebook = make(tmp_path, ["x = 1", "y = x + 1"], name="My Model")
    (step,) = build_pipeline(notebook).steps
    assert (step.name, step.cells) == ("my_model", (1, 2))


# -- dependency analysis -------------------------------------------------------------------------
def test_nearest_upstream_definition_or_change_wins(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("total = 0\nrows = {'a': 1}\nitems = []\nclass Box: pass\nbox = Box()", ["block:a"]),
            ("total += 5\nrows['b'] = 2\nitems.append(3)\nbox.size = 4", ["block:b"]),
            ("out = (total, rows, items, box.size)", ["block:c"]),
        ],
    )
    steps = steps_of(build_pipeline(notebook))
    assert inputs_of(steps["b"]) == {"box": "a", "items": "a", "rows": "a", "total": "a"}
    assert inputs_of(steps["c"]) == {"box": "b", "items": "b", "rows": "b", "total": "b"}
    assert "class Box" not in steps["c"].prelude  # box is data; its class is not called in c


def test_fitting_a_model_or_calling_a_function_on_a_value_changes_it(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("model = make()\nscaler = make()\nd = {}", ["block:a"]),
            ("model.fit(1, 2)\nz = scaler.fit_transform(3)\nfill(d)", ["block:b"]),
            ("print(model, scaler, d, z)", ["block:c"]),
            ("def make():\n    return object()\ndef fill(x):\n    x[1] = 1", ["functions"]),
        ],
    )
    assert inputs_of(steps_of(build_pipeline(notebook))["c"]) == {
        "d": "b",
        "model": "b",
        "scaler": "b",
        "z": "b",
    }


def test_imports_and_functions_travel_as_code_with_the_names_they_use(tmp_path):
    notebook = make(
        tmp_path,
        [
            (
                "import numpy as np\nk = 3\ndef scale(x, by=2):\n    return np.asarray(x) * k * by",
                ["block:a"],
            ),
            ("k = 10\nunused = 1", ["block:b"]),
            ("y = scale([1, 2])", ["block:c"]),
        ],
    )
    c = steps_of(build_pipeline(notebook))["c"]
    assert inputs_of(c) == {"k": "b"}  # read by `scale` when called, nearest definition
    assert "import numpy as np" in c.prelude and "def scale(x, by=2):" in c.prelude
    assert c.after == ("b",)


def test_loop_variables_comprehensions_lambdas_and_builtins_are_not_inputs(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("xs = [1, 2]\nk = 2", ["block:a"]),
            (
                "for i in range(3):\n    print(i)\n"
                "ys = [x * k for x in xs]\nf = lambda v: v + k\nwith open('x' if True "
                "else 'y', 'w') as fh:\n    fh.write(str(len(ys)))\ntry:\n    pass\n"
                "except ValueError as err:\n    print(err)",
                ["block:b"],
            ),
        ],
    )
    assert inputs_of(steps_of(build_pipeline(notebook))["b"]) == {"k": "a", "xs": "a"}


def test_import_guards_star_imports_display_and_globals(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("try:\n    import tomllib\nexcept ImportError:\n    tomllib = None", ["block:a"]),
            ("from math import *\ncount = 0", ["block:b"]),
            (
                "def bump():\n    global count\n    count += 1\n"
                "bump()\nroot = sqrt(2)\ndisplay(root, tomllib)",
                ["block:c"],
            ),
        ],
    )
    c = steps_of(build_pipeline(notebook))["c"]
    assert inputs_of(c) == {"count": "b"}
    assert "import tomllib" in c.prelude and "from math import *" in c.prelude
    assert "from IPython.display import display" in c.prelude
    assert c.global_names == ("count",)


def test_parameters_flow_and_can_be_rebound_by_a_step(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("n = '3'\nflag = True", ["parameters"]),
            ("n = int(n)", ["block:a"]),
            ("total = n * 2 if flag else 0", ["block:b"]),
        ],
    )
    steps = steps_of(build_pipeline(notebook))
    assert inputs_of(steps["a"]) == {"n": "<parameter>"}
    assert inputs_of(steps["b"]) == {"flag": "<parameter>", "n": "a"}


# -- errors: one clear line ----------------------------------------------------------------------
def test_a_name_no_step_defines_is_reported_at_export_with_its_cell():
    message = error_of(path("unresolved"))
    assert "'scale_factor' in cell 2 (step 'train')" in message
    assert message.startswith("1 name is used but not defined in any cell above")


def test_a_deleted_or_later_defined_name_is_unresolved(tmp_path):
    notebook = make(
        tmp_path,
        [("a = 1\ndel a", ["block:x"]), ("b = a + c", ["block:y"]), ("c = 2", ["block:z"])],
    )
    message = error_of(notebook)
    assert "'a' in cell 2 (step 'y')" in message and "'c' in cell 2 (step 'y')" in message


def test_a_metric_no_step_computes_is_reported(tmp_path):
    notebook = make(tmp_path, [("x = 1", ["block:a"]), ("print(accuracy)", ["pipeline-metrics"])])
    assert "'accuracy' in cell 2 (the pipeline-metrics)" in error_of(notebook)


def test_cycle_in_prev_tags():
    assert "cycle: a → b → a" in error_of(path("cycle"))


def test_duplicate_step_name():
    assert "Step name 'load' is used twice (cells 1 and 3)" in error_of(path("duplicate"))


def test_prev_naming_an_unknown_step(tmp_path):
    notebook = make(tmp_path, [("x = 1", ["block:a", "prev:nowhere"])])
    assert "prev:nowhere but no step is named 'nowhere' (steps: a)" in error_of(notebook)


def test_parameters_must_be_literals(tmp_path):
    notebook = make(tmp_path, [("n = 3\nm = compute()", ["parameters"]), ("x = n", ["block:a"])])
    assert "line 2 is `m = compute()`" in error_of(notebook)


def test_syntax_error_names_the_cell(tmp_path):
    notebook = make(tmp_path, [("x = 1", ["block:a"]), ("y = (", ["block:b"])])
    assert error_of(notebook).startswith("Cell 2 (step 'b') has a syntax error at line 1")


def test_no_code_cells(tmp_path):
    notebook = make(tmp_path, [("# Title", [], "markdown"), ("x = 1", ["skip"])])
    assert "has no code cells to export" in error_of(notebook)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("just some text\n", "is not a Jupyter notebook (not JSON"),
        ('{"cells": [{"cell_type": "code", "sou', "is not a Jupyter notebook (not JSON"),
        ('{"name": "package.json"}', "is not a Jupyter notebook (it has no list of cells)"),
        ("[1, 2]", "is not a Jupyter notebook (the JSON is a list"),
        ('{"cells": [{"cell_type": "image"}]}', "cell 1 has no valid cell_type"),
    ],
)
def test_not_a_notebook(tmp_path, content, expected):
    bad = tmp_path / "bad.ipynb"
    bad.write_text(content)
    assert expected in error_of(str(bad))


def test_missing_notebook_and_folder(tmp_path):
    with pytest.raises(NotFound, match="does not exist"):
        build_pipeline(tmp_path / "nope.ipynb")
    assert "is a folder, not a notebook" in error_of(str(tmp_path))


def test_refused_magic_names_the_cell():
    message = error_of(path("refused_magic"))
    assert message.startswith("Cell 2 (step 'keep') uses %store, which a pipeline cannot run.")
    assert "tag the cell `skip`" in message


# -- IPython syntax ------------------------------------------------------------------------------
def rewrite(source: str, known=frozenset({"name", "n"})):
    done = ips.rewrite_cell(source, "cell 1 (step 's')", frozenset(known))
    compile(done.code, "<test>", "exec")
    return done


@pytest.mark.parametrize(
    ("line", "packages"),
    [
        (
            '!pip install -q "pandas>=2" scikit-learn==1.5 -r req.txt',
            ["pandas>=2", "scikit-learn==1.5"],
        ),
        ("%pip install --upgrade xgboost", ["xgboost"]),
        ("!{sys.executable} -m pip install lightgbm > /dev/null", ["lightgbm"]),
        ("!uv pip install polars --index-url https://x.org/simple", ["polars"]),
    ],
)
def test_pip_lines_become_requirements(line, packages):
    done = rewrite(f"import sys\n{line}\nx = 1")
    assert list(done.requirements) == packages
    assert "pip" not in done.code.replace("# ", "").split("\n")[1].split("(in")[0][:0]
    assert done.code.splitlines()[1].startswith("# ") and "x = 1" in done.code


def test_shell_lines_run_with_subprocess_and_expand_like_ipython():
    done = rewrite("!echo {name.upper()} $n $HOME $$ > out.txt\nfiles = !ls -1")
    first, *rest = done.code.splitlines()
    assert first == (
        "subprocess.run(f'echo {name.upper()} {n} $HOME $ > out.txt', shell=True, check=True)"
    )
    assert "files = subprocess.run(" in done.code and ".stdout.splitlines()" in done.code
    assert done.modules == ("subprocess",)


def test_shell_braces_that_are_not_python_stay_literal():
    expression = ips.command_expression("awk '{print $1}' f.txt", frozenset())
    assert eval(expression) == "awk '{print $1}' f.txt"
    assert eval(ips.command_expression('echo "{x!r}"', frozenset())) == 'echo "{x!r}"'


def test_line_magics_run_or_drop():
    done = rewrite(
        "%matplotlib inline\n%load_ext autoreload\n%time y = len('abc')\n%env A=1\n%env\n%cd /tmp"
    )
    lines = done.code.splitlines()
    assert lines[0].startswith("# %matplotlib inline") and lines[1].startswith("# %load_ext")
    assert lines[2] == "y = len('abc')"
    assert lines[3] == "os.environ['A'] = '1'" and lines[4].startswith("# %env")
    assert lines[5] == "os.chdir(os.path.expanduser('/tmp'))"


def test_magics_inside_blocks_keep_the_block_valid():
    done = rewrite("for i in range(2):\n    %matplotlib inline\n    !echo {i}\n")
    assert done.code.splitlines()[1].strip().startswith("pass  # %matplotlib")
    assert "subprocess.run(f'echo {i}'" in done.code


def test_cell_magics():
    assert rewrite("%%time\nx = 1\n").code.strip() == "x = 1"
    assert rewrite("%%capture\nx = 1\n").code.strip() == "x = 1"
    assert rewrite("%%html\n<b>hi</b>\n").code.startswith("# %%html cell: display only")
    bash = rewrite("%%bash\necho one\necho two\n").code
    assert bash.startswith("subprocess.run(['bash'], input=")
    append = rewrite("%%writefile -a notes.txt\nhello\n").code
    assert "open('notes.txt', 'a'" in append and "hello" in append


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%store x", "uses %store, which a pipeline cannot run"),
        ("%%sql\nselect 1\n", "uses %%sql"),
        ("%%capture out\nx = 1\n", "uses %%capture into a variable"),
        ("%mlops_register clf -n churn", "Call jupyter_mlops.register_model(...)"),
        ("%conda install numpy", "Use %pip install"),
        ("y = %time f()", "uses %time in an expression"),
        ("print(get_ipython().kernel)", "uses get_ipython() (it only exists inside IPython)"),
    ],
)
def test_refused_ipython_syntax(source, expected):
    with pytest.raises(InvalidInput, match="^Cell 1 \\(step 's'\\) ") as info:
        ips.rewrite_cell(source, "cell 1 (step 's')")
    assert expected in str(info.value)


def test_fallback_transformer_without_ipython(monkeypatch):
    monkeypatch.setattr(ips, "_transformer", lambda: None)
    done = rewrite("!pip install rich\nfiles = !ls\n%matplotlib inline\nx = 1")
    assert done.requirements == ("rich",)
    assert "files = subprocess.run(" in done.code and "x = 1" in done.code
    assert rewrite("%%bash\necho hi\n").code.startswith("subprocess.run(['bash']")


def test_the_notebook_json_is_only_read(tmp_path):
    notebook = make(tmp_path, [("x = 1", ["block:a"])])
    before = open(notebook, "rb").read()
    build_pipeline(notebook)
    assert open(notebook, "rb").read() == before
    assert "".join(json.loads(before)["cells"][0]["source"]) == "x = 1"


def test_ipythons_transformer_is_loaded_without_importing_ipython():
    module = ips._standalone_transformer()
    from IPython.core.inputtransformer2 import TransformerManager

    source = "!ls {x}\nfiles = !ls\n%time y = 1\nz?\n"
    assert module.TransformerManager().transform_cell(source) == (
        TransformerManager().transform_cell(source)
    )


def test_the_core_does_not_import_jupyter_modules(tmp_path):
    from importlib.metadata import version

    forbidden = ["ipywidgets", "tornado", "jupyter_server", "ipykernel"]
    if int(version("ipython").split(".")[0]) < 9:
        # IPython 8's input transformer loads on its own; IPython 9's imports IPython.utils,
        # which imports all of IPython (a parser dependency then, not a Jupyter runtime).
        forbidden.append("IPython")
    code = (
        "import sys\n"
        "from jupyter_mlops.pipelines import export_notebook\n"
        f"export_notebook({path('magics')!r}, 'airflow', {str(tmp_path / 'out')!r})\n"
        f"loaded = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]\n"
        "assert not loaded, loaded\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120
    )
    assert done.returncode == 0, done.stderr


# -- Kale's rules for untagged cells and metrics ---------------------------------------------------
def test_an_untagged_cell_after_pipeline_parameters_is_a_parameter_cell(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("import math", ["imports"]),
            "import json",  # shared, like the imports cell above it
            ("lr = 0.1", ["pipeline-parameters"]),
            "epochs = 3",  # a parameter too, as Kale reads it
            ("skipped = 1", ["skip"]),
            "batch = 32",  # the skip cell does not break the chain
            ("loss = math.exp(-lr * epochs * batch)\ntext = json.dumps(loss)", ["block:train"]),
            "twice = loss * 2",  # joins the step above
            ("print(loss)", ["pipeline-metrics"]),
            "print(twice)",  # a metrics cell too
        ],
    )
    pipeline = build_pipeline(notebook)
    assert pipeline.parameters == {"lr": 0.1, "epochs": 3, "batch": 32}
    (train,) = pipeline.steps
    assert train.cells == (7, 8) and "import json" in train.prelude
    assert inputs_of(train) == {
        "batch": "<parameter>",
        "epochs": "<parameter>",
        "lr": "<parameter>",
    }
    assert pipeline.metrics == ("loss", "twice")


def test_metrics_cells_that_name_parameters_keep_them(tmp_path):
    notebook = make(
        tmp_path,
        [
            ("lr = 0.1\nepochs = 3\noptimizer = 'adam'", ["pipeline-parameters"]),
            ("data = list(range(epochs))", ["block:load"]),
            ("loss = sum(data) * lr", ["block:train"]),
            ("print(loss, lr, epochs)", ["pipeline-metrics"]),
        ],
    )
    steps = steps_of(build_pipeline(notebook))
    assert steps["train"].metrics == ("loss", "lr")  # the last step that reads lr
    assert steps["load"].metrics == ("epochs",)  # the one step that reads epochs
    assert "lr" in steps["train"].outputs and "epochs" in steps["load"].outputs
    with open(notebook) as fh:
        text = fh.read().replace("print(loss, lr, epochs)", "print(loss, optimizer)")
    with open(notebook, "w") as fh:
        fh.write(text)
    assert "names the parameter 'optimizer' = 'adam', which is not a number" in error_of(notebook)


def test_parameter_metrics_reach_the_local_run_and_every_target(tmp_path, tracking_store):
    from jupyter_mlops.pipelines import export_notebook, run_pipeline

    notebook = make(
        tmp_path,
        [
            ("factor = 4", ["pipeline-parameters"]),
            "offset = 1.5",
            ("score = factor * 2 + offset", ["block:compute"]),
            ("print(score, factor, offset)", ["pipeline-metrics"]),
        ],
    )
    export_notebook(notebook, "python")
    result = run_pipeline(tmp_path / "nb_python")
    assert result.metrics == {"score": 9.5, "factor": 4.0, "offset": 1.5}
    for target in ("airflow", "kfp"):
        export_notebook(notebook, target)
        for name in os.listdir(tmp_path / f"nb_{target}"):
            if name.endswith(".py"):
                source = (tmp_path / f"nb_{target}" / name).read_text()
                compile(source, name, "exec")
                assert "float(factor)" in source and "float(offset)" in source
