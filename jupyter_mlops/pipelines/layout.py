"""Which cells form which step: Kale's cell tags, markdown headings, or one step.

Kale's tags (https://github.com/kubeflow-kale/kale) are the vocabulary:

``block:<name>`` / ``step:<name>``
    starts the step ``<name>``; untagged code cells join the step above them.
``prev:<name>``
    the step runs after ``<name>`` (dependencies are also inferred from the code).
``imports`` / ``functions``
    code that every step runs first.
``pipeline-parameters`` (and papermill's ``parameters``)
    assignments of literal values: the pipeline's parameters.
``pipeline-metrics``
    names whose values are the pipeline's metrics.
``skip``
    left out of the pipeline.

As in Kale, an untagged code cell takes the role of the code cell above it (``skip`` cells
aside): after a ``pipeline-parameters`` cell it holds parameters too, after ``imports`` it is
shared code, after ``pipeline-metrics`` it names metrics.

A notebook without Kale tags becomes one step per top-level markdown heading: the shallowest
heading level used at least twice (so a single ``# Title`` over ``##`` sections splits on the
sections). ``single_step=True``, or a notebook without headings, gives one step (kale #923).
Code cells above the first step join the first step.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, replace

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.pipelines.model import Cell
from jupyter_mlops.pipelines.notebook import identifier

STEP_PREFIXES = ("block:", "step:")
PREV_PREFIX = "prev:"
SHARED_TAGS = frozenset({"imports", "functions"})
PARAMETER_TAGS = frozenset({"pipeline-parameters", "parameters", "injected-parameters"})
METRICS_TAGS = frozenset({"pipeline-metrics"})
SKIP_TAGS = frozenset({"skip"})
_KALE_TAGS = SHARED_TAGS | METRICS_TAGS | SKIP_TAGS | {"pipeline-parameters"}
# Names the generated modules use for themselves: a step may not shadow them.
RESERVED = (
    frozenset(dir(builtins))
    | {"dsl", "compiler", "dag", "task", "pipeline", "run", "main", "Input", "Output", "Artifact"}
    | {"Metrics", "os", "re", "json", "sys", "datetime", "tempfile", "get_current_context"}
    | {"params", "inputs", "outputs", "steps", "data", "save_value", "load_value", "read_value"}
)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Block:
    """Cells that become one step, before the code is analysed."""

    name: str
    cells: tuple[Cell, ...]
    prev: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """The notebook's code cells sorted by role."""

    blocks: tuple[Block, ...]
    shared: tuple[Cell, ...] = ()
    parameters: tuple[Cell, ...] = ()
    metrics: tuple[Cell, ...] = ()


def split_cells(cells: tuple[Cell, ...], name: str, single_step: bool = False) -> Layout:
    """Sort ``cells`` into steps, shared cells, parameter cells and metrics cells.

    Parameters
    ----------
    cells : tuple of Cell
        Every cell of the notebook, markdown included.
    name : str
        The pipeline's name: the name of the single step when there is one.
    single_step : bool
        One step for all code cells (tags other than parameters, metrics and skip ignored).
    """
    if not single_step and any(_is_kale(tag) for c in cells for tag in c.tags):
        cells = _inherit_roles(cells)
    code = [c for c in cells if c.kind == "code" and c.source.strip()]
    layout = Layout(
        blocks=(),
        shared=tuple(c for c in code if _role(c) == "shared" and not single_step),
        parameters=tuple(c for c in code if _role(c) == "parameters"),
        metrics=tuple(c for c in code if _role(c) == "metrics"),
    )
    if single_step:
        blocks = _one_block(cells, name, keep_shared=True)
    elif any(_is_kale(tag) for c in cells for tag in c.tags):
        blocks = _tagged_blocks(cells)
    else:
        blocks = _heading_blocks(cells) or _one_block(cells, name, keep_shared=False)
    _check_prev(blocks)
    return replace(layout, blocks=blocks)


def _inherit_roles(cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """Untagged code cells with the role tag of the code cell above (Kale's rule).

    Step cells need nothing: an untagged cell already joins the step above it.
    """
    out, above = [], None
    for cell in cells:
        untagged = _role(cell) == "step" and not any(t.startswith(STEP_PREFIXES) for t in cell.tags)
        if cell.kind == "code" and untagged and above:
            cell = replace(cell, tags=(*cell.tags, above))
        if cell.kind == "code" and _role(cell) != "skip":
            above = _role_tag(cell)
        out.append(cell)
    return tuple(out)


def _role_tag(cell: Cell) -> str | None:
    """The tag that gives ``cell`` its role, unless it is a step cell."""
    for wanted in (PARAMETER_TAGS, METRICS_TAGS, SHARED_TAGS):
        found = sorted(set(cell.tags) & wanted)
        if found:
            return found[0]
    return None


def _is_kale(tag: str) -> bool:
    return tag in _KALE_TAGS or tag.startswith((*STEP_PREFIXES, PREV_PREFIX))


def _role(cell: Cell) -> str:
    tags = set(cell.tags)
    for role, wanted in (
        ("skip", SKIP_TAGS),
        ("parameters", PARAMETER_TAGS),
        ("metrics", METRICS_TAGS),
        ("shared", SHARED_TAGS),
    ):
        if tags & wanted:
            return role
    return "step"


def _step_cells(cells: tuple[Cell, ...], keep_shared: bool) -> list[Cell]:
    roles = ("step", "shared") if keep_shared else ("step",)
    return [c for c in cells if c.kind == "code" and c.source.strip() and _role(c) in roles]


def _one_block(cells: tuple[Cell, ...], name: str, keep_shared: bool) -> tuple[Block, ...]:
    return (Block(step_name(name), tuple(_step_cells(cells, keep_shared))),)


MAX_STEP_NAME = 100
"""The longest step name: it names files, functions and orchestrator tasks."""


def step_name(raw: str, where: str = "") -> str:
    """A valid, non-reserved step name from a tag or heading."""
    name = identifier(raw)
    if not name:
        raise InvalidInput(f"Step name {raw[:40]!r}{where} has no letters or digits. Rename it.")
    if len(name) > MAX_STEP_NAME:
        raise InvalidInput(
            f"Step name {raw[:40]!r}…{where} is {len(name):,} characters long; step names have "
            f"at most {MAX_STEP_NAME}. Shorten the heading or tag, or tag the cell block:<name>."
        )
    clash = name in RESERVED or keyword.iskeyword(name) or not name.isidentifier()
    return f"{name}_step" if clash else name


# -- Kale tags ---------------------------------------------------------------------------------
def _tagged_blocks(cells: tuple[Cell, ...]) -> tuple[Block, ...]:
    blocks: list[Block] = []
    first_cell: dict[str, int] = {}
    pending: list[Cell] = []  # untagged code above the first block
    for cell in cells:
        if cell.kind != "code" or _role(cell) != "step":
            continue
        named = [t.split(":", 1)[1] for t in cell.tags if t.startswith(STEP_PREFIXES)]
        prev = tuple(
            step_name(t.split(":", 1)[1], f" (cell {cell.number})")
            for t in cell.tags
            if t.startswith(PREV_PREFIX)
        )
        if named:
            name = step_name(named[0], f" (cell {cell.number})")
            if blocks and blocks[-1].name == name:
                blocks[-1] = _extend(blocks[-1], cell, prev)
                continue
            if name in first_cell:
                raise InvalidInput(
                    f"Step name {name!r} is used twice (cells {first_cell[name]} and "
                    f"{cell.number}). Step names must be unique: rename one of the block: tags, "
                    "or move the cells together."
                )
            first_cell[name] = cell.number
            blocks.append(Block(name, (cell,) if cell.source.strip() else (), prev))
        elif blocks:
            blocks[-1] = _extend(blocks[-1], cell, prev)
        elif cell.source.strip():
            pending.append(cell)
    if not blocks:
        return (Block("main", tuple(pending)),) if pending else ()
    blocks[0] = replace(blocks[0], cells=(*pending, *blocks[0].cells))
    return tuple(blocks)


def _extend(block: Block, cell: Cell, prev: tuple[str, ...]) -> Block:
    cells = (*block.cells, cell) if cell.source.strip() else block.cells
    return replace(block, cells=cells, prev=(*block.prev, *prev))


def _check_prev(blocks: tuple[Block, ...]) -> None:
    names = [b.name for b in blocks]
    for block in blocks:
        for raw in block.prev:
            if raw not in names:
                raise InvalidInput(
                    f"Step {block.name!r} has the tag prev:{raw} but no step is named {raw!r} "
                    f"(steps: {', '.join(names)}). Fix the tag."
                )


# -- markdown headings -------------------------------------------------------------------------
def _heading_blocks(cells: tuple[Cell, ...]) -> tuple[Block, ...]:
    level = _split_level(cells)
    if level is None:
        return ()
    blocks: list[Block] = []
    pending: list[Cell] = []
    for cell in cells:
        title = _heading(cell, level)
        if title is not None:
            name = step_name(title or "step", f" (heading in cell {cell.number})")
            blocks.append(Block(_unique(name, blocks), ()))
        elif cell.kind == "code" and _role(cell) == "step" and cell.source.strip():
            if blocks:
                blocks[-1] = replace(blocks[-1], cells=(*blocks[-1].cells, cell))
            else:
                pending.append(cell)
    if blocks:
        blocks[0] = replace(blocks[0], cells=(*pending, *blocks[0].cells))
    return tuple(b for b in blocks if b.cells)


def _headings(cell: Cell) -> list[tuple[int, str]]:
    if cell.kind != "markdown":
        return []
    found = []
    for line in cell.source.splitlines():
        match = _HEADING.match(line.strip())
        if match:
            found.append((len(match.group(1)), _markdown_text(match.group(2))))
    return found


def _split_level(cells: tuple[Cell, ...]) -> int | None:
    counts: dict[int, int] = {}
    for cell in cells:
        for level, _ in _headings(cell):
            counts[level] = counts.get(level, 0) + 1
    repeated = [level for level, n in counts.items() if n >= 2]
    return min(repeated) if repeated else (min(counts) if counts else None)


def _heading(cell: Cell, level: int) -> str | None:
    return next((title for lvl, title in _headings(cell) if lvl == level), None)


def _markdown_text(markdown: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # links keep their text
    return re.sub(r"[`*_~]", "", text)


def _unique(name: str, blocks: list[Block]) -> str:
    taken = {b.name for b in blocks}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate
