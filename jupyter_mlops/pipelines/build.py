"""A notebook file → a :class:`~jupyter_mlops.pipelines.model.Pipeline`: read, split, analyse."""

from __future__ import annotations

import ast
import os

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.pipelines import names as nm
from jupyter_mlops.pipelines.analysis import Analysis, Draft, analyse, upstream
from jupyter_mlops.pipelines.contracts import PREFIX as CONTRACT_TAG
from jupyter_mlops.pipelines.contracts import with_contract_checks
from jupyter_mlops.pipelines.layout import split_cells
from jupyter_mlops.pipelines.model import Input, Pipeline, Step
from jupyter_mlops.pipelines.notebook import pipeline_name, read_cells
from jupyter_mlops.pipelines.requirements import imported_modules, requirements_for

DISPLAY_SHIM = """\
try:
    from IPython.display import display
except ImportError:  # IPython is not installed where the step runs
    display = print"""


def build_pipeline(path: str | os.PathLike[str], single_step: bool = False) -> Pipeline:
    """Read the notebook at ``path`` and turn it into a pipeline (the file is only read).

    Raises
    ------
    NotFound
        No file at ``path``.
    InvalidInput
        Not a notebook, no code, a bad tag, a cycle, a name no cell defines, an IPython
        construct a pipeline cannot run: one message that says which cell and what to do.
    """
    path = os.fspath(path)
    name = pipeline_name(path)
    cells = read_cells(path)
    layout = split_cells(cells, name, single_step)
    if any(t.startswith(CONTRACT_TAG) for c in cells for t in c.tags):
        step_of = {c.number: b.name for b in layout.blocks for c in b.cells}
        layout = split_cells(with_contract_checks(cells, step_of), name, single_step)
    if not any(block.cells for block in layout.blocks):
        raise InvalidInput(
            f"{path!r} has no code cells to export (cells tagged `skip` do not count)."
        )
    analysis = analyse(layout)
    drafts = {d.name: d for d in analysis.drafts}
    steps = tuple(_freeze(drafts[n], analysis) for n in analysis.order)
    pip_lines = tuple(r for rw in analysis.rewritten.values() for r in rw.requirements)
    all_requirements = [r for s in steps for r in s.requirements] + list(pip_lines)
    notes = [n for rw in analysis.rewritten.values() for n in rw.notes]
    notes += [note for s in steps for note in _unknown_modules(s)]
    return Pipeline(
        name=name,
        source=path,
        steps=steps,
        parameters=analysis.parameters,
        requirements=tuple(dict.fromkeys(all_requirements)),
        notes=tuple(dict.fromkeys(notes)),
    )


def _freeze(draft: Draft, analysis: Analysis) -> Step:
    code = _own_code(draft, analysis)
    prelude = _prelude(draft, analysis)
    whole = f"{prelude}\n{code}"
    cells = [c.number for c in draft.cells] + [c.number for c, _ in analysis.shared]
    cells += [d.cell for d in draft.carried.values()]
    pip_lines = tuple(
        r for n in cells for r in analysis.rewritten[n].requirements if n in analysis.rewritten
    )
    requirements, _ = requirements_for(imported_modules(whole), pip_lines)
    return Step(
        name=draft.name,
        cells=tuple(c.number for c in draft.cells),
        code=code,
        prelude=prelude,
        inputs=tuple(Input(n, s) for n, s in sorted(draft.inputs.items())),
        outputs=tuple(sorted(draft.outputs)),
        metrics=tuple(dict.fromkeys(draft.metrics)),
        after=tuple(n for n in analysis.order if n in upstream(draft)),
        requirements=tuple(requirements),
        global_names=tuple(sorted(nm.global_declarations(whole))),
    )


def _own_code(draft: Draft, analysis: Analysis) -> str:
    parts = [
        f"# -- cell {c.number} --\n{analysis.rewritten[c.number].code.strip(chr(10))}"
        for c in draft.cells
    ]
    return "\n\n".join(parts) if parts else "pass"


def _prelude(draft: Draft, analysis: Analysis) -> str:
    carried = sorted(draft.carried.values(), key=lambda d: (d.cell, not d.is_import))
    imports = [d.source for d in carried if d.is_import]
    cells = {c.number for c in draft.cells} | {c.number for c, _ in analysis.shared}
    cells |= {d.cell for d in carried}
    modules = sorted(
        {m for n in cells if n in analysis.rewritten for m in analysis.rewritten[n].modules}
    )
    imports = [f"import {m}" for m in modules] + imports
    parts = ["\n".join(dict.fromkeys(imports))] if imports else []
    parts += [DISPLAY_SHIM] if draft.uses_display else []
    shared = [(c, _used_only(code, draft.called)) for c, code in analysis.shared]
    parts += [
        f"# -- cell {c.number} ({', '.join(c.tags)}) --\n{code}" for c, code in shared if code
    ]
    parts += [f"# from cell {d.cell}\n{d.source}" for d in carried if not d.is_import]
    return "\n\n".join(parts)


def _used_only(code: str, called: set[str]) -> str:
    """An ``imports``/``functions`` cell without the functions and classes the step never calls.

    Those would only bring along names the step does not have.
    """
    lines = code.strip("\n").split("\n")
    for stmt in reversed(ast.parse(code.strip("\n")).body):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if stmt.name not in called:
                first = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
                del lines[first - 1 : stmt.end_lineno]
    return "\n".join(lines).strip("\n")


def _unknown_modules(step: Step) -> list[str]:
    _, unknown = requirements_for(imported_modules(f"{step.prelude}\n{step.code}"))
    return [
        f"step {step.name!r} imports {m!r}, which is not an installed package here: make it "
        "available where the steps run"
        for m in unknown
    ]
