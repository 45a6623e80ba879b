"""The layers of the package: which part may import which, and no import circles.

The picture and the reasons are in docs/development.md ("Layers"); this test keeps the code to
it. Imports are read with ``ast`` from every module, at any depth: function-level imports count
(a lazy import is still a dependency, and a circle of lazy imports is still a circle). Only
imports under ``if TYPE_CHECKING:`` are left out: they never run. A package's ``__init__`` is a
module like any other; the implicit import of a parent package when a submodule is imported is
not an edge (every module would then depend on every ``__init__`` above it).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jupyter_mlops")

LAYERS: list[tuple[str, set[str]]] = [
    (
        "base",
        {"errors", "_lazy", "_version", "version", "processes", "ports", "jsonable", "entities"},
    ),
    ("store", {"store"}),
    ("tracking", {"tracking", "contracts"}),
    ("registry", {"registry", "viz"}),
    (
        "applications",
        {"serving", "monitoring", "sweeps", "pipelines", "tensorboard", "evaluation", "mlflow_api"},
    ),
    ("adapters", {"jupyter", "cli", "__main__", "__init__"}),
]
"""Bottom up. A part may import its own layer and the layers below it, never one above."""
MODULE_LAYERS = {
    "jupyter_mlops.monitoring.kinds": "base",  # column kinds (numpy only), for contract profiles
    # the evaluation module's definitions (imported by autolog and the gate) sit at the bottom,
    # the evaluation report's storage beside tracking, its runner and views with the other
    # applications (it evaluates registered models and compares with production)
    "jupyter_mlops.evaluation.metrics": "base",
    "jupyter_mlops.evaluation.measure": "base",
    "jupyter_mlops.evaluation.thresholds": "base",
    "jupyter_mlops.evaluation.record": "tracking",
}
"""Modules in another layer than their package's (each checked against its own layer)."""
UPWARD: dict[tuple[str, str], str] = {}
"""The one-off imports of a higher layer, each with its reason."""
JUPYTER = ("IPython", "ipywidgets", "jupyter_server", "tornado", "traitlets", "notebook")
JUPYTER_ALLOWED = {
    "jupyter_mlops.serving.http": "the model server's HTTP layer is tornado",
    "jupyter_mlops.mlflow_api.server": "the tracking API's HTTP layer is tornado (standalone, and "
    "the reply writer of Jupyter's mount)",
    "jupyter_mlops.pipelines.ipython_syntax": "IPython's own parser for %magics when IPython is "
    "loaded already (guarded; a standalone copy otherwise)",
}
"""Core modules that may import a Jupyter library, and why; the rest of the core may not."""


def modules() -> dict[str, str]:
    """``{dotted name: file}`` of every module of the package."""
    found = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                found[rel.removesuffix(".__init__")] = path
    return found


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imported(tree: ast.AST, known: set[str] | frozenset[str] = frozenset()) -> Iterator[str]:
    """Every module an import statement imports.

    ``from a import b`` imports the module ``a.b`` when there is one (in ``known``), else the
    name ``b`` of ``a``: then it is ``a`` that is imported.
    """
    for node in ast.iter_child_nodes(tree):
        if _type_checking(node):
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield sub if sub in known else node.module
        yield from imported(node, known)


def graph() -> dict[str, set[str]]:
    """``{module: modules of ours it imports}``."""
    mods = modules()
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        edges[name] = {n for n in imported(tree, set(mods)) if n in mods} - {name}
    return edges


def part(module: str) -> str:
    """The package (or top-level module) a module belongs to."""
    return module.split(".")[1] if "." in module else "__init__"


def layer_of(name: str) -> int:
    """The layer of a part (a package or top-level module)."""
    for index, (_, members) in enumerate(LAYERS):
        if name in members:
            return index
    raise AssertionError(
        f"jupyter_mlops.{name} is in no layer: add it to LAYERS in tests/test_layers.py and to "
        "the picture in docs/development.md"
    )


def module_layer(module: str) -> int:
    """The layer of a module: its own (``MODULE_LAYERS``), else its part's."""
    if module in MODULE_LAYERS:
        return [name for name, _ in LAYERS].index(MODULE_LAYERS[module])
    return layer_of(part(module))


def test_every_part_is_in_a_layer():
    for module in graph():
        layer_of(part(module))


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for module, targets in sorted(graph().items()):
        mine = module_layer(module)
        for target in sorted(targets):
            theirs = module_layer(target)
            if theirs > mine and (module, target) not in UPWARD:
                wrong.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_core_imports_no_jupyter_library():
    wrong = []
    for name, path in sorted(modules().items()):
        if part(name) in ("jupyter", "__init__") or name in JUPYTER_ALLOWED:
            continue
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        wrong += [f"{name} imports {n}" for n in imported(tree) if n.split(".")[0] in JUPYTER]
    assert not wrong, "\n".join(sorted(set(wrong)))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_circle_check_finds_circles(edges, expected):
    assert cycles(edges) == expected


def test_function_level_imports_count_and_type_checking_ones_do_not():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from jupyter_mlops.a import X\n"
        "def f():\n    from jupyter_mlops.b import y\n    import jupyter_mlops.c\n"
    )
    names = set(imported(tree))
    assert {"jupyter_mlops.b", "jupyter_mlops.c"} <= names
    submodule = ast.parse("from jupyter_mlops.store import refs, get_store\n")
    assert set(imported(submodule, {"jupyter_mlops.store.refs"})) == {
        "jupyter_mlops.store.refs",
        "jupyter_mlops.store",
    }
    assert not any(n.startswith("jupyter_mlops.a") for n in names)
