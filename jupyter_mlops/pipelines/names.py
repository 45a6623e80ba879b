"""Static name analysis of one cell: what it reads, binds, changes and deletes, in order.

Scoping questions (what a function, a lambda, a comprehension or a class body reads from the
notebook's globals) are answered by the standard :mod:`symtable` module, which is the compiler's
own view; the order of top-level statements, and of the parts of compound statements, is walked
here so that ``for i in ...: print(i)`` does not count ``i`` as read before it is bound.

Kinds of binding:

- data: an assignment; a later step receives the value (serialized).
- code: an ``import``, a ``def`` or a ``class`` (or a top-level statement containing one, such as
  ``try: import torch / except ImportError: ...``): a later step that uses the name receives the
  statement's source instead, and a function brings along the names it reads when called.
- change: ``df["x"] = ...``, ``obj.attr = ...``, ``x += 1``, ``model.fit(...)``, a call with
  ``inplace=True``, or a call whose result is dropped (``add_features(df)``): the value of an
  earlier step is modified, so later steps take it from here.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass

BUILTINS = frozenset(dir(builtins)) | {"__name__", "__doc__", "display"}
MUTATING_METHODS = frozenset(
    "fit partial_fit fit_transform fit_predict fit_resample append extend insert pop popitem "
    "remove clear update add discard setdefault sort reverse set_params shuffle resize fill put "
    "itemset setflags seed".split()
)
_CODE_STATEMENTS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# Scopes whose reads happen where they are written (a lambda counts: it usually runs at once,
# as in ``df.apply(lambda r: r * k)``, and its names must reach the step).
_IMMEDIATE_SCOPES = frozenset({"lambda", "listcomp", "setcomp", "dictcomp", "genexpr"})


@dataclass(frozen=True)
class Definition:
    """Code that travels to the steps that use one of its names.

    Attributes
    ----------
    source : str
        The whole top-level statement (decorators included).
    names : tuple of str
        Names it binds.
    uses : frozenset of str
        Names it reads when it runs, or when a function it defines is called.
    cell : int
        The cell it comes from.
    is_import : bool
        Only imports (they go first in a step's prelude).
    """

    source: str
    names: tuple[str, ...]
    uses: frozenset[str]
    cell: int
    is_import: bool = False


@dataclass(frozen=True)
class Event:
    """One thing a statement does to a name: ``read``, ``bind``, ``change`` or ``delete``."""

    kind: str
    name: str
    definition: Definition | None = None


def cell_events(tree: ast.Module, code: str, cell: int) -> tuple[Event, ...]:
    """What the cell's statements do to names, in execution order."""
    lines = code.splitlines()
    events: list[Event] = []
    for stmt in tree.body:
        events.extend(_top_level(stmt, lines, cell))
    return tuple(events)


def bound_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds anywhere (a cheap first pass for ``$name`` expansion)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def read_names(tree: ast.AST) -> list[str]:
    """Names a piece of code reads (the ``pipeline-metrics`` cell), in order, no builtins."""
    seen: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in BUILTINS:
                seen.setdefault(node.id)
    return list(seen)


def global_declarations(code: str) -> set[str]:
    """Names that functions in ``code`` declare ``global`` (they must stay module globals)."""
    names: set[str] = set()
    todo = list(symtable.symtable(code, "<step>", "exec").get_children())
    while todo:
        table = todo.pop()
        names.update(s.get_name() for s in table.get_symbols() if s.is_declared_global())
        todo.extend(table.get_children())
    return names


# -- statements --------------------------------------------------------------------------------
def _top_level(stmt: ast.stmt, lines: list[str], cell: int) -> list[Event]:
    if isinstance(stmt, _CODE_STATEMENTS) or (not isinstance(stmt, ast.expr) and _binds_code(stmt)):
        return _definition(stmt, lines, cell)
    return _ordered(stmt)


def _binds_code(stmt: ast.stmt) -> bool:
    return any(isinstance(node, _CODE_STATEMENTS) for node in ast.walk(stmt))


def _source(stmt: ast.stmt, lines: list[str]) -> str:
    first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
    return "\n".join(lines[first - 1 : stmt.end_lineno])


def _definition(stmt: ast.stmt, lines: list[str], cell: int) -> list[Event]:
    reads, deferred, binds = _scan(_source(stmt, lines))
    is_import = isinstance(stmt, ast.Import | ast.ImportFrom)
    names = [a.asname or a.name.split(".")[0] for a in getattr(stmt, "names", [])] or binds
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        names = [stmt.name]
    uses = (deferred | set(reads) | _augmented_globals(stmt)) - set(names)
    definition = Definition(_source(stmt, lines), tuple(names), frozenset(uses), cell, is_import)
    events = [Event("read", name) for name in reads]
    return events + [Event("bind", name, definition) for name in names]


def _augmented_globals(stmt: ast.stmt) -> set[str]:
    """``global x`` then ``x += 1`` in a function reads ``x`` (symtable only sees a store)."""
    declared = {name for n in ast.walk(stmt) if isinstance(n, ast.Global) for name in n.names}
    targets = {
        n.target.id
        for n in ast.walk(stmt)
        if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)
    }
    return declared & targets


def _ordered(stmt: ast.stmt) -> list[Event]:
    """Events of a statement without imports or definitions, parts in execution order."""
    if isinstance(stmt, ast.If | ast.While):
        return _expr(stmt.test) + _body(stmt.body) + _body(stmt.orelse)
    if isinstance(stmt, ast.For | ast.AsyncFor):
        return _expr(stmt.iter) + _target(stmt.target) + _body(stmt.body) + _body(stmt.orelse)
    if isinstance(stmt, ast.With | ast.AsyncWith):
        events: list[Event] = []
        for item in stmt.items:
            events += _expr(item.context_expr)
            events += _target(item.optional_vars) if item.optional_vars else []
        return events + _body(stmt.body)
    if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
        return _try(stmt)  # type: ignore[arg-type]
    if isinstance(stmt, ast.Match):
        return _match(stmt)
    return _simple(stmt)


def _body(stmts: list[ast.stmt]) -> list[Event]:
    return [event for stmt in stmts for event in _ordered(stmt)]


def _try(stmt: ast.Try) -> list[Event]:
    events = _body(stmt.body)
    for handler in stmt.handlers:
        events += _expr(handler.type) if handler.type else []
        events += [Event("bind", handler.name)] if handler.name else []
        events += _body(handler.body)
    return events + _body(stmt.orelse) + _body(stmt.finalbody)


def _match(stmt: ast.Match) -> list[Event]:
    events = _expr(stmt.subject)
    for case in stmt.cases:
        captured = {
            n.name for n in ast.walk(case.pattern) if isinstance(n, ast.MatchAs | ast.MatchStar)
        }
        captured |= {n.rest for n in ast.walk(case.pattern) if isinstance(n, ast.MatchMapping)}
        events += [Event("bind", name) for name in sorted(n for n in captured if n)]
        values = [n for n in ast.walk(case.pattern) if isinstance(n, ast.expr)]
        for node in values + ([case.guard] if case.guard else []):
            events += _expr(node)
        events += _body(case.body)
    return events


def _simple(stmt: ast.stmt) -> list[Event]:
    reads, deferred, binds = _scan(ast.unparse(stmt))
    deleted = set()
    if isinstance(stmt, ast.Delete):
        deleted = {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        reads = [stmt.target.id, *reads]  # symtable sees `x += 1` as a binding only
    events = [Event("read", name) for name in [*reads, *sorted(deferred)]]
    events += [Event("change", name) for name in sorted(changed_roots(stmt))]
    events += [Event("delete", name) for name in sorted(deleted)]
    return events + [Event("bind", name) for name in binds if name not in deleted]


def _expr(node: ast.expr) -> list[Event]:
    reads, deferred, binds = _scan(ast.unparse(node), mode="eval")
    events = [Event("read", name) for name in [*reads, *sorted(deferred)]]
    return events + [Event("bind", name) for name in binds]  # walrus


def _target(node: ast.expr) -> list[Event]:
    events = [Event("read", n.id) for n in _loads_in_target(node)]
    events += [Event("change", name) for name in sorted(_target_roots(node))]
    stores = [
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    ]
    return events + [Event("bind", name) for name in stores]


def _loads_in_target(node: ast.expr) -> list[ast.Name]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


# -- scopes ------------------------------------------------------------------------------------
def _scan(source: str, mode: str = "exec") -> tuple[list[str], set[str], list[str]]:
    """Module-level reads, reads deferred to call time (function bodies) and binds of ``source``.

    Names read inside lambdas and comprehensions count as module-level reads (they run at once);
    names read inside ``def``/``class`` bodies are deferred.
    """
    table = symtable.symtable(source, "<cell>", mode)
    reads = [s.get_name() for s in table.get_symbols() if s.is_referenced()]
    binds = [s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()]
    deferred: set[str] = set()
    for child in table.get_children():
        names = _globals_of(child)
        if child.get_name() in _IMMEDIATE_SCOPES:
            reads.extend(n for n in sorted(names) if n not in reads)
        else:
            deferred |= names
    return reads, deferred, binds


def _globals_of(table: symtable.SymbolTable) -> set[str]:
    names = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    if table.get_type() == "class":  # a class body reads unbound names from the globals
        names |= {
            s.get_name()
            for s in table.get_symbols()
            if s.is_referenced() and not s.is_assigned() and not s.is_imported()
        }
    for child in table.get_children():
        names |= _globals_of(child)
    return names


# -- changes -----------------------------------------------------------------------------------
def changed_roots(stmt: ast.stmt) -> set[str]:
    """Names whose value ``stmt`` modifies in place (see the module docstring)."""
    roots: set[str] = set()
    for target in _targets(stmt):
        roots |= _target_roots(target)
    for call in _calls(stmt):
        roots |= _call_changes(call, discarded=isinstance(stmt, ast.Expr) and stmt.value is call)
    return roots


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign | ast.Delete):
        return list(stmt.targets)
    if isinstance(stmt, ast.AugAssign | ast.AnnAssign):
        return [stmt.target]
    return []


def _target_roots(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Tuple | ast.List):
        return {root for elt in node.elts for root in _target_roots(elt)}
    if isinstance(node, ast.Starred):
        return _target_roots(node.value)
    if isinstance(node, ast.Attribute | ast.Subscript):
        root = root_name(node)
        return {root} if root else set()
    return set()


def root_name(node: ast.expr) -> str | None:
    """``df`` for ``df.loc[m, "a"].fillna``: the variable an attribute chain starts from."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _calls(stmt: ast.stmt) -> list[ast.Call]:
    calls: list[ast.Call] = []
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Call):
            calls.append(node)
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES))
    return calls


def _call_changes(call: ast.Call, discarded: bool) -> set[str]:
    roots: set[str] = set()
    func = call.func
    inplace = any(
        k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )
    if isinstance(func, ast.Attribute) and (discarded or inplace or func.attr in MUTATING_METHODS):
        root = root_name(func.value)
        roots |= {root} if root else set()
    if discarded and isinstance(func, ast.Name) and func.id not in BUILTINS:
        values = [*call.args, *(k.value for k in call.keywords)]
        roots |= {v.id for v in values if isinstance(v, ast.Name)}
    return roots
