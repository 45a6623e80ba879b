"""The notebooks the pipeline tests export, and helpers to run them for real.

The ``.ipynb`` files in ``tests/notebooks/pipelines/`` are generated from :data:`NOTEBOOKS` with
nbformat; ``python tests/test_pipelines_fixtures.py`` rewrites them, and a test checks that they
are up to date. Helpers: execute a notebook top to bottom with nbclient while capturing, after
each step's last cell, the values that step hands on; compare values of any type.
"""

from __future__ import annotations

import os
import pickle
import shutil

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "notebooks", "pipelines")
MD = "markdown"

# Each cell: (source, tags) or (source, tags, "markdown").
NOTEBOOKS: dict[str, list[tuple]] = {
    # Kale's tags, papermill's `parameters`, a helper that reads a parameter, mutation by
    # subscript assignment, augmented assignment, a fitted model, a skipped cell, metrics.
    "tagged": [
        ("# A tagged notebook\nKale's cell tags define the steps.", [], MD),
        (
            "import numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import "
            "LogisticRegression",
            ["imports"],
        ),
        ("n_rows = 200\nC = 1.0\nseed = 7", ["parameters"]),
        (
            "def noisy(values, scale=0.1):\n"
            "    rng = np.random.default_rng(seed)\n"
            "    return values + rng.normal(0, scale, len(values))",
            ["functions"],
        ),
        (
            "rng = np.random.default_rng(seed)\n"
            'df = pd.DataFrame({"x1": rng.normal(size=n_rows), "x2": rng.normal(size=n_rows)})',
            ["block:load"],
        ),
        ('df["y"] = (df.x1 + df.x2 > 0).astype(int)', []),
        (
            'df["x3"] = noisy(df.x1 * df.x2)\n'
            'features = ["x1", "x2", "x3"]\n'
            "X = df[features].to_numpy()\n"
            'y = df["y"].to_numpy()',
            ["block:features", "prev:load"],
        ),
        ("df.describe()", ["skip"]),
        (
            "model = LogisticRegression(C=C)\nmodel.fit(X, y)\nn_fits = 1\nn_fits += 1",
            ["block:train", "prev:features"],
        ),
        (
            "accuracy = float((model.predict(X) == y).mean())\n"
            "coefs = {name: float(c) for name, c in zip(features, model.coef_[0])}\n"
            "print(f'accuracy {accuracy:.3f} after {n_fits} fits')",
            ["block:evaluate", "prev:train"],
        ),
        ("print(accuracy)", ["pipeline-metrics"]),
    ],
    # No tags: one step per `##` heading (the single `#` title does not split). Imports above
    # the first step, a function and a class carried into later steps, a rebinding the carried
    # function must see, lambdas and comprehensions.
    "headings": [
        ("# Sales report\nNo tags: the `##` sections become steps.", [], MD),
        ("import statistics\nfrom collections import Counter", []),
        ("## Load data", [], MD),
        (
            'sales = [("north", 120.0), ("south", 80.5), ("north", 99.5), ("east", 40.0)]\n'
            "threshold = 50",
            [],
        ),
        ("## Helpers and cleaning", [], MD),
        (
            "def is_big(amount):\n    return amount > threshold\n\n\n"
            "class Summary:\n"
            "    def __init__(self, rows):\n        self.rows = rows\n\n"
            "    def total(self):\n        return sum(a for _, a in self.rows)",
            [],
        ),
        (
            "big = [row for row in sales if is_big(row[1])]\n"
            "regions = Counter(region for region, _ in big)",
            [],
        ),
        ("## Summarize", [], MD),
        (
            "summary = Summary(big)\n"
            "mean = statistics.mean(a for _, a in big)\n"
            "threshold = 100\n"
            "flagged = [r for r in sales if is_big(r[1])]\n"
            "labels = sorted(map(lambda r: r.upper(), regions))",
            [],
        ),
        ("## Report", [], MD),
        (
            'report = f"{len(flagged)} flagged, total {summary.total():.1f}, mean {mean:.2f}, '
            '{labels}"\nprint(report)',
            [],
        ),
    ],
    # IPython syntax: `!pip` (to requirements), display magics (dropped), %env, shell lines
    # with {expr} expansion, x = !cmd, %time, %%bash, %%writefile.
    "magics": [
        (
            "!pip install --quiet --no-index joblib\n%matplotlib inline\n"
            "%env MLOPS_DEMO_GREETING=hello\nimport os\n"
            'greeting = os.environ["MLOPS_DEMO_GREETING"]',
            ["block:setup"],
        ),
        ("!echo {greeting} world > greeting.txt\n%time size = len(greeting)", []),
        ('%%bash\necho "from bash" > bash.txt', ["block:shell", "prev:setup"]),
        ("%%writefile notes.txt\nfirst line\nsecond line", []),
        (
            "lines = !cat greeting.txt bash.txt notes.txt\n"
            "content = [line.strip() for line in lines]\n"
            "count = len(content) + size",
            ["block:read", "prev:shell"],
        ),
        ("count", ["pipeline-metrics"]),
    ],
    # Standard library only: runs on the real orchestrators' own environments.
    "plain": [
        ("import statistics", ["imports"]),
        ("n = 5\nfactor = 3", ["parameters"]),
        ("def scaled(xs):\n    return [x * factor for x in xs]", ["functions"]),
        ("values = list(range(n))\nconfig = {'name': 'demo', 'sizes': [1, 2]}", ["block:make"]),
        (
            "doubled = scaled(values)\nconfig['sizes'].append(len(doubled))",
            ["block:transform"],
        ),
        ("score = statistics.mean(doubled) + len(config['sizes'])", ["block:evaluate"]),
        ("score", ["pipeline-metrics"]),
    ],
    "unresolved": [
        ("data = [1, 2, 3]", ["block:load"]),
        ("size = len(data) * scale_factor", ["block:train"]),
    ],
    "cycle": [
        ("x = 1", ["block:a", "prev:b"]),
        ("y = x + 1", ["block:b"]),
    ],
    "duplicate": [
        ("x = 1", ["block:load"]),
        ("y = x + 1", ["block:train"]),
        ("z = y + 1", ["block:load"]),
    ],
    "refused_magic": [
        ("x = 1", ["block:make"]),
        ("%store x", ["block:keep"]),
    ],
}


def build(name: str, cells: list[tuple] | None = None) -> nbformat.NotebookNode:
    """The notebook ``name`` of :data:`NOTEBOOKS`, or one made of ``cells`` (stable cell ids)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for number, (source, tags, *kind) in enumerate(cells or NOTEBOOKS[name], start=1):
        cell = (nbformat.v4.new_markdown_cell if kind else nbformat.v4.new_code_cell)(source)
        cell.id = f"{name}-{number}"
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    return nb


def make(folder, cells: list, name: str = "nb") -> str:
    """Write a notebook of ``cells`` (a plain string is an untagged code cell) into ``folder``."""
    cells = [(c, []) if isinstance(c, str) else c for c in cells]
    target = os.path.join(folder, f"{name}.ipynb")
    nbformat.write(build(name, cells), target)
    return target


def path(name: str) -> str:
    """The fixture file of notebook ``name``."""
    return os.path.join(FOLDER, f"{name}.ipynb")


def copy(name: str, folder) -> str:
    """Copy fixture ``name`` into ``folder`` (tests never run inside tests/)."""
    os.makedirs(folder, exist_ok=True)
    return shutil.copy(path(name), os.path.join(folder, f"{name}.ipynb"))


def write_all() -> None:
    """Regenerate every fixture file."""
    os.makedirs(FOLDER, exist_ok=True)
    for name in NOTEBOOKS:
        nbformat.write(build(name), path(name))


# -- running notebooks ---------------------------------------------------------------------------
CAPTURE = """\
import cloudpickle as _cp
with open({file!r}, "wb") as _fh:
    _cp.dump({{_n: globals()[_n] for _n in {names!r} if _n in globals()}}, _fh)
"""


def execute_with_captures(notebook: str, pipeline, folder: str) -> dict[str, dict]:
    """Run ``notebook`` top to bottom in a real kernel (nbclient), in ``folder``.

    Returns, per step, the values of the step's outputs right after the step's last cell.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    files = {}
    for step in sorted(pipeline.steps, key=lambda s: -max(s.cells)):
        files[step.name] = os.path.join(folder, f"capture-{step.name}.pkl")
        code = CAPTURE.format(file=files[step.name], names=list(step.outputs))
        nb.cells.insert(max(step.cells), nbformat.v4.new_code_cell(code))
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": folder}}
    )
    client.execute()
    values = {}
    for name, file in files.items():
        with open(file, "rb") as fh:
            values[name] = pickle.load(fh)
    return values


def assert_same(a, b, where: str = "") -> None:
    """``a`` and ``b`` hold the same value (frames, arrays, models, plain objects)."""
    import joblib
    import numpy as np
    import pandas as pd

    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, obj=where)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif hasattr(a, "get_params"):
        assert type(a).__name__ == type(b).__name__, where
        assert joblib.hash(vars(a)) == joblib.hash(vars(b)), where
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert type(a).__name__ == type(b).__name__, where
        assert set(vars(a)) == set(vars(b)), where
        for key in vars(a):
            assert_same(vars(a)[key], vars(b)[key], f"{where}.{key}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_fixture_notebooks_are_up_to_date():
    for name in NOTEBOOKS:
        with open(path(name), encoding="utf-8") as fh:
            stored = nbformat.read(fh, as_version=4)
        assert stored == build(name), f"run `python tests/test_pipelines_fixtures.py` ({name})"


if __name__ == "__main__":
    write_all()
    print(f"wrote {len(NOTEBOOKS)} notebooks into {FOLDER}")
