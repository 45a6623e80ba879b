"""From cells to a :class:`~jupyter_mlops.pipelines.model.Pipeline`: who needs what from whom.

For every step, the names it reads before binding them are looked up in the steps above it,
nearest first, exactly as running the notebook top to bottom would find them:

- a value assigned (or changed) by an earlier step becomes a data input, and that step outputs it;
- an import, function or class is copied into the step as code, together with whatever the
  function reads when it is called;
- a ``parameters`` cell above provides a parameter;
- a name nothing provides is an error raised now, naming the cell, not a crash at run time.

Edges come from these data inputs plus ``prev:`` tags; the steps are ordered so that each runs
after its inputs, in notebook order where there is a choice. A cycle is reported with its path.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.pipelines import layout as lay
from jupyter_mlops.pipelines import names as nm
from jupyter_mlops.pipelines.ipython_syntax import Rewritten, parse, rewrite_cell, to_python
from jupyter_mlops.pipelines.model import PARAMETER, Cell

DELETED = "<deleted>"
METRICS = "pipeline-metrics"
DATA = None
MAX_LISTED = 6


@dataclass
class Draft:
    """A step while it is being analysed (mutable; frozen into a ``Step`` at the end)."""

    name: str
    cells: tuple[Cell, ...]
    prev: tuple[str, ...]
    position: int
    events: list[tuple[int, nm.Event]] = field(default_factory=list)
    defines: dict[str, Any] = field(default_factory=dict)
    changes: set[str] = field(default_factory=set)
    needs: dict[str, tuple[int, int]] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)
    bound: set[str] = field(default_factory=set)
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    metrics: list[str] = field(default_factory=list)
    carried: dict[str, nm.Definition] = field(default_factory=dict)
    called: set[str] = field(default_factory=set)
    uses_display: bool = False


@dataclass(frozen=True)
class ParameterCell:
    """A ``parameters`` cell: where it is and what it assigns."""

    position: int
    values: dict[str, Any]


@dataclass
class Analysis:
    """Everything the code generator needs, keyed by step name."""

    drafts: list[Draft]
    shared: list[tuple[Cell, str]]
    parameters: dict[str, Any]
    rewritten: dict[int, Rewritten]
    order: list[str] = field(default_factory=list)


def analyse(layout: lay.Layout) -> Analysis:
    """Resolve every step's names; raise one ``InvalidInput`` for everything unresolved."""
    param_cells = [_parameter_cell(c) for c in layout.parameters]
    rewritten = _rewrite_all(layout)
    drafts = [
        Draft(b.name, b.cells, b.prev, b.cells[0].number if b.cells else 0) for b in layout.blocks
    ]
    shared_events = _events(layout.shared, rewritten, "")
    for draft in drafts:
        draft.events = _events(draft.cells, rewritten, draft.name)
    resolver = _Resolver(drafts, param_cells, shared_events)
    for draft in drafts:
        resolver.resolve_step(draft)
    for cell in layout.metrics:
        resolver.resolve_metrics(cell)
    resolver.raise_unresolved()
    analysis = Analysis(
        drafts=drafts,
        shared=[(c, rewritten[c.number].code) for c in layout.shared],
        parameters={k: v for pc in param_cells for k, v in pc.values.items()},
        rewritten=rewritten,
    )
    analysis.order = order_steps(drafts)
    return analysis


def where(cell: Cell, step: str = "") -> str:
    """How messages name a cell: ``cell 4 (step 'train')``."""
    return f"cell {cell.number} (step {step!r})" if step else f"cell {cell.number}"


# -- rewriting and events ----------------------------------------------------------------------
def _rewrite_all(layout: lay.Layout) -> dict[int, Rewritten]:
    cells = [(c, "") for c in layout.shared] + [(c, b.name) for b in layout.blocks for c in b.cells]
    known: set[str] = set()
    for cell, _ in cells:
        try:
            known |= nm.bound_names(ast.parse(to_python(cell.source)))
        except SyntaxError:
            pass  # reported with its cell by rewrite_cell below
    frozen = frozenset(known)
    return {c.number: rewrite_cell(c.source, where(c, step), frozen) for c, step in cells}


def _events(
    cells: tuple[Cell, ...], rewritten: dict[int, Rewritten], step: str
) -> list[tuple[int, nm.Event]]:
    events = []
    for cell in cells:
        done = rewritten[cell.number]
        for module in done.modules:  # imported in the step's prelude for rewritten lines
            definition = nm.Definition(
                f"import {module}", (module,), frozenset(), cell.number, True
            )
            events.append((cell.number, nm.Event("bind", module, definition)))
        tree = parse(done.code, where(cell, step))
        events += [(cell.number, e) for e in nm.cell_events(tree, done.code, cell.number)]
    return events


def _parameter_cell(cell: Cell) -> ParameterCell:
    values: dict[str, Any] = {}
    for stmt in parse(cell.source, f"parameters cell {cell.number}").body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare string
        target = getattr(stmt, "targets", [getattr(stmt, "target", None)])
        value = getattr(stmt, "value", None)
        if len(target) != 1 or not isinstance(target[0], ast.Name) or value is None:
            raise _bad_parameter(cell, stmt)
        try:
            values[target[0].id] = ast.literal_eval(value)
        except ValueError:
            raise _bad_parameter(cell, stmt) from None
    return ParameterCell(cell.number, values)


def _bad_parameter(cell: Cell, stmt: ast.stmt) -> InvalidInput:
    return InvalidInput(
        f"The parameters cell {cell.number} must only assign literal values (like "
        f"`test_size = 0.2`); line {stmt.lineno} is `{ast.unparse(stmt)}`. Move that line to "
        "a step."
    )


# -- resolution --------------------------------------------------------------------------------
class _Resolver:
    """Looks names up in the steps and parameter cells above a position."""

    def __init__(
        self,
        drafts: list[Draft],
        param_cells: list[ParameterCell],
        shared_events: list[tuple[int, nm.Event]],
    ):
        self.drafts = drafts
        self.providers: list[Draft | ParameterCell] = sorted(
            [*drafts, *param_cells], key=lambda p: p.position
        )
        self.shared_events = shared_events
        self.shared_defs = {e.name: e.definition for _, e in shared_events if e.kind == "bind"}
        self.unresolved: list[tuple[str, int, str]] = []

    def resolve_step(self, draft: Draft) -> None:
        _replay(draft, self.shared_events, set(self.shared_defs))
        for name, (cell, position) in list(draft.needs.items()):
            self._need(draft, name, cell, position, set())
        called_from = max((c.number for c in draft.cells), default=draft.position) + 1
        for definition in self._called_definitions(draft):
            draft.called.update(definition.names)
            for name in sorted(definition.uses):
                if name not in draft.bound:
                    self._need(draft, name, definition.cell, called_from, set())

    def _called_definitions(self, draft: Draft) -> list[nm.Definition]:
        own = [d for d in draft.defines.values() if isinstance(d, nm.Definition)]
        own += [d for d in self.shared_defs.values() if d is not None]
        called, reads, changed = [], set(draft.reads), True
        while changed:
            changed = False
            for definition in own:
                if definition not in called and reads & set(definition.names):
                    called.append(definition)
                    reads |= definition.uses
                    changed = True
        return called

    def _need(self, draft: Draft, name: str, cell: int, position: int, seen: set[str]) -> None:
        if name in seen:
            return
        seen.add(name)
        found = self.lookup(name, position, draft)
        if found is None:
            self._builtin_or_missing(draft, name, cell, position)
        elif isinstance(found, nm.Definition):
            draft.carried.setdefault(found.source, found)
            for used in sorted(found.uses - set(found.names) - draft.bound):
                self._need(draft, used, cell, position, seen)
        elif isinstance(found, ParameterCell):
            draft.inputs[name] = PARAMETER
        else:
            draft.inputs[name] = found.name
            found.outputs.add(name)

    def _builtin_or_missing(self, draft: Draft, name: str, cell: int, position: int) -> None:
        if name == "display":
            draft.uses_display = True
            return
        if name in nm.BUILTINS:
            return
        star = self.lookup("*", position, draft)
        if isinstance(star, nm.Definition):  # `from x import *` may provide it
            draft.carried.setdefault(star.source, star)
            return
        self.unresolved.append((name, cell, draft.name))

    def lookup(self, name: str, position: int, exclude: Draft | None) -> Any:
        """The provider of ``name`` for code at ``position``, nearest above first.

        A :class:`Draft` (data), a :class:`ParameterCell`, a ``Definition`` (code) or ``None``.
        """
        changed_by = None
        for provider in reversed(self.providers):
            if provider.position >= position or provider is exclude:
                continue
            if isinstance(provider, ParameterCell):
                if name in provider.values:
                    return changed_by or provider
                continue
            found = provider.defines.get(name, "")
            if found == DELETED:
                return None
            if isinstance(found, nm.Definition):
                return found
            if found is DATA:
                return changed_by or provider
            if name in provider.changes and changed_by is None:
                changed_by = provider
        return self.shared_defs.get(name) if name == "*" else None

    def resolve_metrics(self, cell: Cell) -> None:
        tree = parse(cell.source, f"pipeline-metrics cell {cell.number}")
        for name in nm.read_names(tree):
            found = self.lookup(name, cell.number, None)
            if isinstance(found, Draft):
                found.outputs.add(name)
                found.metrics.append(name)
            elif isinstance(found, ParameterCell):
                self._parameter_metric(name, found.values[name], cell)
            else:
                self.unresolved.append((name, cell.number, METRICS))

    def _parameter_metric(self, name: str, value: Any, cell: Cell) -> None:
        """A parameter named in a metrics cell is a metric too, as in Kale.

        The last step above the cell that reads it records it (else the last step above it).
        """
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InvalidInput(
                f"The pipeline-metrics cell {cell.number} names the parameter {name!r} = "
                f"{value!r}, which is not a number: metrics are numbers. Drop it from the cell."
            )
        above = [d for d in self.drafts if d.cells and d.position < cell.number]
        readers = [d for d in above if d.inputs.get(name) == PARAMETER]
        if not (readers or above):
            return
        step = (readers or above)[-1]
        step.inputs[name] = PARAMETER
        step.outputs.add(name)
        step.metrics.append(name)

    def raise_unresolved(self) -> None:
        if not self.unresolved:
            return
        shown = [
            f"{name!r} in cell {cell} ({'the ' if step == METRICS else 'step '}"
            f"{step if step == METRICS else repr(step)})"
            for name, cell, step in self.unresolved[:MAX_LISTED]
        ]
        count = len(self.unresolved)
        more = f" and {count - len(shown)} more" if count > len(shown) else ""
        it = "them" if count > 1 else "it"
        raise InvalidInput(
            f"{count} name{'s are' if count > 1 else ' is'} used but not defined in any cell "
            f"above: {', '.join(shown)}{more}. Define {it} in an earlier cell, make {it} a "
            "parameter (a `parameters` cell), or tag the cell `skip`."
        )


def _replay(draft: Draft, shared: list[tuple[int, nm.Event]], shared_bound: set[str]) -> None:
    """Walk the step's events: what it needs from above, binds, changes and reads."""
    draft.bound = set(shared_bound)
    for cell, event in shared:
        if event.kind == "read" and event.name not in draft.bound:
            draft.needs.setdefault(event.name, (cell, draft.position))
    for cell, event in draft.events:
        if event.kind == "read":
            draft.reads.add(event.name)
            if event.name not in draft.bound:
                draft.needs.setdefault(event.name, (cell, cell))
        elif event.kind == "bind":
            draft.bound.add(event.name)
            draft.defines[event.name] = event.definition
        elif event.kind == "change" and event.name not in draft.bound:
            draft.changes.add(event.name)
        elif event.kind == "delete":
            draft.bound.discard(event.name)
            draft.defines[event.name] = DELETED


# -- order -------------------------------------------------------------------------------------
def upstream(draft: Draft) -> list[str]:
    """Steps ``draft`` runs after: the sources of its data inputs and its ``prev:`` tags."""
    names = [s for s in draft.inputs.values() if s != PARAMETER] + list(draft.prev)
    return list(dict.fromkeys(names))


def order_steps(drafts: list[Draft]) -> list[str]:
    """Step names in an order that respects every edge, notebook order where free."""
    after = {d.name: set(upstream(d)) for d in drafts}
    done: list[str] = []
    while len(done) < len(drafts):
        ready = [d.name for d in drafts if d.name not in done and after[d.name] <= set(done)]
        if not ready:
            raise InvalidInput(_cycle_message(after, done))
        done.append(ready[0])
    return done


def _cycle_message(after: dict[str, set[str]], done: list[str]) -> str:
    node = next(n for n in after if n not in done)
    path = [node]
    while True:
        node = sorted(after[node] - set(done))[0]
        if node in path:
            cycle = path[path.index(node) :] + [node]
            break
        path.append(node)
    shown = " → ".join(reversed(cycle))
    return (
        f"The steps depend on each other in a cycle: {shown} (from prev: tags and the "
        "values they pass). Remove a prev: tag, or move the cells so values flow downwards."
    )
