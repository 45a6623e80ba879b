"""Turn a cell's IPython syntax into plain Python, deliberately, or refuse with one message.

IPython's own input transformer (imported lazily: it is a parser, not a Jupyter runtime) turns
``%magic`` and ``!cmd`` lines into ``get_ipython()`` calls; this module then replaces each call:

- ``!pip install ...`` / ``%pip install ...`` lines are dropped; their packages go into the
  pipeline's requirements (kale #142).
- other ``!cmd`` lines run through ``subprocess.run(cmd, shell=True, check=True)``, with
  ``{expr}`` and ``$name`` (for names the notebook binds) expanded as IPython does; ``x = !cmd``
  becomes the command's output lines. Unlike the notebook, a failing command fails the step:
  a pipeline must not carry on silently.
- ``%time stmt`` runs ``stmt``; ``%env A=1`` sets ``os.environ``; ``%cd DIR`` calls ``os.chdir``;
  ``%%bash``/``%%sh``/``%%script PROG`` run their body through that program;
  ``%%writefile`` writes the file; ``%%time``, ``%%capture`` and ``%%mlops_track`` run their body;
  ``%%mlops_sweep`` runs its sweep with the body as objective (``jupyter_mlops.sweeps.cell``).
- display-only magics (``%matplotlib``, ``%load_ext``, ``%timeit``, ``%%html``, the ``%mlops_*``
  panels...) are dropped: they change nothing a later cell can read.
- anything else (``%store``, ``%run``, ``%sql``, user magics...) is refused with a message that
  names the cell and the magic.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any

from jupyter_mlops.errors import InvalidInput

DROPPED_LINE_MAGICS = frozenset(
    "matplotlib config load_ext reload_ext unload_ext autoreload aimport pinfo pinfo2 pdef pdoc "
    "psource pfile who whos who_ls lsmagic precision xmode history magic page colors autocall "
    "automagic timeit debug pdb mlops_track mlops_runs mlops_compare mlops_models "
    "mlops_deployments mlops_drift mlops_export".split()
)
DISPLAY_CELL_MAGICS = frozenset("html javascript js markdown latex svg timeit".split())
BODY_CELL_MAGICS = frozenset({"time", "capture", "mlops_track"})
SCRIPT_CELL_MAGICS = {"bash": "bash", "sh": "sh"}
_MAYBE_IPYTHON = re.compile(r"^\s*(!|%|>>>|In \[)|=\s*[!%](?!=)|\?\s*$", re.M)
_PIP = re.compile(r"(^|[\s/])(pip3?|uv\s+pip)\s+install\b")
_VALUE_OPTIONS = frozenset(
    "-r --requirement -c --constraint -e --editable -i --index-url --extra-index-url -f "
    "--find-links -t --target --prefix --root --src --upgrade-strategy --python-version "
    "--platform --implementation --abi --no-binary --only-binary --trusted-host --proxy "
    "--cache-dir --log --timeout --retries".split()
)
_SHELL_STOP = frozenset({"&&", "||", ";", "|", ">", ">>", "2>&1", "&"})
_MLOPS_API = {
    "mlops_register": "jupyter_mlops.register_model(...)",
    "mlops_promote": "jupyter_mlops.promote(...)",
    "mlops_deploy": "jupyter_mlops.deploy(...)",
}


@dataclass(frozen=True)
class Rewritten:
    """A cell's code as plain Python.

    Attributes
    ----------
    code : str
        Valid Python with the same meaning as the cell.
    requirements : tuple of str
        Packages of the cell's ``pip install`` lines.
    modules : tuple of str
        Standard modules the rewritten lines use (``subprocess``, ``os``).
    notes : tuple of str
        What was dropped or replaced, for the export's README.
    """

    code: str
    requirements: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass
class _Acc:
    requirements: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def to_python(source: str) -> str:
    """``source`` after IPython's input transformations (a minimal fallback without IPython)."""
    if not _MAYBE_IPYTHON.search(source) and not source.lstrip("\n")[:1].isspace():
        return source  # plain Python: skip the transformer (about 1 ms per cell)
    manager = _transformer()
    return manager.transform_cell(source) if manager else _fallback_transform(source)


@functools.lru_cache(maxsize=1)
def _transformer() -> Any:
    module = sys.modules.get("IPython.core.inputtransformer2") or _standalone_transformer()
    if module is None:
        try:
            from IPython.core import inputtransformer2 as module
        except ImportError:  # IPython is a dependency, but the core must not need it
            return None
    return module.TransformerManager()


def _standalone_transformer() -> Any:
    """IPython's transformer module without importing IPython (about 1 s outside a kernel).

    ``IPython/core/inputtransformer2.py`` only imports the standard library, so it can be loaded
    on its own from IPython's folder; any surprise falls back to the ordinary import.
    """
    try:
        spec = importlib.util.find_spec("IPython")
        folders = list(spec.submodule_search_locations or []) if spec else []
        if not folders:
            return None
        folder = folders[0]
        path = os.path.join(folder, "core", "inputtransformer2.py")
        alone = importlib.util.spec_from_file_location("_mlops_inputtransformer2", path)
        module = importlib.util.module_from_spec(alone)  # type: ignore[arg-type]
        alone.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    except Exception:  # a layout we do not know: import IPython the usual way
        return None


def rewrite_cell(source: str, where: str, known: frozenset[str] = frozenset()) -> Rewritten:
    """Plain Python for the cell ``source``.

    Parameters
    ----------
    source : str
        The cell as the user wrote it.
    where : str
        How messages name the cell, e.g. ``"cell 4 (step 'train')"``.
    known : frozenset of str
        Names the notebook binds: ``$name`` in a shell line expands only for those, as in
        IPython, where other ``$VARS`` reach the shell.

    Raises
    ------
    InvalidInput
        The cell has a syntax error or uses a magic a pipeline cannot run.
    """
    acc = _Acc()
    code = _rewrite(source, where, known, acc)
    return Rewritten(code, tuple(acc.requirements), tuple(sorted(acc.modules)), tuple(acc.notes))


def _rewrite(source: str, where: str, known: frozenset[str], acc: _Acc) -> str:
    stripped = source.lstrip("\n")
    if stripped.startswith("%%"):
        return _cell_magic(stripped, where, known, acc)
    code = to_python(source)
    if "get_ipython" not in code:
        return code
    tree = parse(code, where)
    lines = code.splitlines()
    for stmt, call in sorted(_magic_calls(tree, where), key=lambda sc: -sc[0].lineno):
        indent = re.match(r"\s*", lines[stmt.lineno - 1]).group(0)  # type: ignore[union-attr]
        new = _replace(stmt, call, where, known, acc)
        if indent and all(line.lstrip().startswith("#") for line in new):
            new = [f"pass  {new[0].lstrip()}", *new[1:]]
        lines[stmt.lineno - 1 : stmt.end_lineno] = [indent + line for line in new]
    return "\n".join(lines) + "\n"


def parse(code: str, where: str) -> ast.Module:
    """``ast.parse(code)`` with a syntax error reported as one line naming the cell."""
    try:
        return ast.parse(code)
    except SyntaxError as e:
        detail = "top-level await is not supported" if "await" in str(e.msg) else e.msg
        raise InvalidInput(
            f"{where.capitalize()} has a syntax error at line {e.lineno}: {detail}. "
            "Fix the cell, or tag it `skip` to leave it out."
        ) from None


def _is_ipython_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    )


def _magic_calls(tree: ast.Module, where: str) -> list[tuple[ast.stmt, ast.Call]]:
    found: list[tuple[ast.stmt, ast.Call]] = []
    for stmt in ast.walk(tree):
        if not isinstance(stmt, ast.stmt):
            continue
        nodes = _own_nodes(stmt)
        calls = [n for n in nodes if _is_ipython_call(n)]
        names = [n for n in nodes if isinstance(n, ast.Name) and n.id == "get_ipython"]
        if len(calls) > 1:
            raise _refuse(where, "two magics or shell commands in one statement")
        if len(names) > len(calls):
            raise _refuse(where, "get_ipython() (it only exists inside IPython)")
        found += [(stmt, calls[0])] if calls else []  # type: ignore[list-item]
    return found


def _own_nodes(stmt: ast.stmt) -> list[ast.AST]:
    """The nodes of ``stmt`` that do not belong to a nested statement."""
    nodes: list[ast.AST] = []
    todo = [c for c in ast.iter_child_nodes(stmt) if not isinstance(c, ast.stmt)]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.stmt))
    return nodes


def _refuse(where: str, what: str, hint: str = "") -> InvalidInput:
    hint = hint or "Remove it, or tag the cell `skip` to leave it out of the pipeline."
    return InvalidInput(f"{where.capitalize()} uses {what}, which a pipeline cannot run. {hint}")


def _replace(
    stmt: ast.stmt, call: ast.Call, where: str, known: frozenset[str], acc: _Acc
) -> list[str]:
    method = call.func.attr  # type: ignore[attr-defined]
    args = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    target = _assign_target(stmt, call)
    if method in ("system", "getoutput") and len(args) == 1:
        return _shell(args[0], target, where, known, acc)
    if method == "run_line_magic" and len(args) == 2 and args[0] in ("sx", "system"):
        return _shell(args[1], target, where, known, acc)
    if method == "run_line_magic" and len(args) == 2 and target is None:
        return _line_magic(args[0], args[1], where, known, acc)
    shown = f"%{args[0]}" if method == "run_line_magic" and args else "this IPython syntax"
    raise _refuse(where, f"{shown} in an expression")


def _assign_target(stmt: ast.stmt, call: ast.Call) -> str | None:
    if isinstance(stmt, ast.Expr) and stmt.value is call:
        return None
    if isinstance(stmt, ast.Assign) and stmt.value is call:
        return " = ".join(ast.unparse(t) for t in stmt.targets)
    return "?"


# -- shell lines -------------------------------------------------------------------------------
def _shell(
    command: str, target: str | None, where: str, known: frozenset[str], acc: _Acc
) -> list[str]:
    if target == "?":
        raise _refuse(where, f"`!{command}` inside an expression")
    if _PIP.search(command):
        return _pip(command, where, acc)
    acc.modules.add("subprocess")
    acc.notes.append(f"{where}: `!{command}` runs with subprocess (a failure stops the step)")
    expr = command_expression(command, known)
    if target is None:
        return [f"subprocess.run({expr}, shell=True, check=True)"]
    return [
        f"{target} = subprocess.run(",
        f"    {expr}, shell=True, check=True, capture_output=True, text=True",
        ").stdout.splitlines()",
    ]


def _pip(command: str, where: str, acc: _Acc) -> list[str]:
    packages = pip_packages(command)
    acc.requirements.extend(packages)
    acc.notes.append(f"{where}: `{command}` moved to requirements.txt")
    return [f"# {command.strip()}  (in requirements.txt)"]


def pip_packages(command: str) -> list[str]:
    """The packages a ``pip install`` command line names (options and redirections left out)."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    start = next((i + 1 for i, t in enumerate(tokens) if t == "install"), len(tokens))
    packages, skip = [], False
    for token in tokens[start:]:
        if token in _SHELL_STOP or token.startswith((">", "2>")):
            break
        if skip:
            skip = False
        elif token.startswith("-"):
            skip = token in _VALUE_OPTIONS
        elif "{" not in token and "$" not in token:
            packages.append(token)
    return packages


def command_expression(command: str, known: frozenset[str]) -> str:
    """A Python expression for ``command`` with IPython's ``{expr}``/``$name`` expansion."""
    parts: list[tuple[bool, str]] = []  # (is_expression, text)
    literal, i = "", 0
    while i < len(command):
        char = command[i]
        if command.startswith("$$", i):
            literal, i = literal + "$", i + 2
            continue
        name = re.match(r"\$([A-Za-z_]\w*)", command[i:])
        field_end = command.find("}", i) if char == "{" else -1
        if name and name.group(1) in known:
            parts += [(False, literal), (True, name.group(1))]
            literal, i = "", i + name.end()
        elif field_end > i and _is_expression(command[i + 1 : field_end]):
            parts += [(False, literal), (True, command[i + 1 : field_end].strip())]
            literal, i = "", field_end + 1
        else:
            literal, i = literal + char, i + 1
    parts.append((False, literal))
    return _join(parts)


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return False
    return bool(text.strip())


def _join(parts: list[tuple[bool, str]]) -> str:
    fields = [text for is_expr, text in parts if is_expr]
    if not fields:
        return repr("".join(text for _, text in parts))
    if any(q in f for f in fields for q in "'\"\\{}"):
        pieces = [f"str({t})" if e else repr(t) for e, t in parts if e or t]
        return " + ".join(pieces)
    body = "".join(
        "{" + t + "}" if e else t.replace("{", "{{").replace("}", "}}") for e, t in parts
    )
    return "f" + repr(body)


# -- line magics -------------------------------------------------------------------------------
def _line_magic(name: str, line: str, where: str, known: frozenset[str], acc: _Acc) -> list[str]:
    if name == "pip" and line.split()[:1] == ["install"]:
        return _pip(f"pip {line}", where, acc)
    if name in DROPPED_LINE_MAGICS:
        acc.notes.append(f"{where}: %{name} dropped (it changes nothing later cells read)")
        return [f"# %{name} {line}".rstrip() + "  (not needed in a pipeline)"]
    if name == "time":
        acc.notes.append(f"{where}: %time dropped, its statement kept")
        return _rewrite(line, where, known, acc).rstrip("\n").splitlines()
    if name == "env":
        return _env(line, acc)
    if name == "cd" and line.strip() and not line.strip().startswith("-"):
        acc.modules.add("os")
        return [f"os.chdir(os.path.expanduser({line.strip()!r}))"]
    raise _refuse(where, f"%{name}", _hint(name))


def _hint(name: str) -> str:
    if name in _MLOPS_API:
        return f"Call {_MLOPS_API[name]} in the cell instead, or tag the cell `skip`."
    if name in ("conda", "mamba"):
        return "Use %pip install (its packages go into requirements.txt), or tag the cell `skip`."
    return ""


def _env(line: str, acc: _Acc) -> list[str]:
    match = re.match(r"\s*([A-Za-z_]\w*)\s*[= ]\s*(.*)$", line)
    if not match:  # `%env` or `%env NAME` only shows values
        return [f"# %env {line}".rstrip() + "  (display only)"]
    acc.modules.add("os")
    return [f"os.environ[{match.group(1)!r}] = {match.group(2).strip()!r}"]


# -- cell magics -------------------------------------------------------------------------------
def _cell_magic(source: str, where: str, known: frozenset[str], acc: _Acc) -> str:
    header, _, body = source.partition("\n")
    name, _, line = header[2:].strip().partition(" ")
    if name in BODY_CELL_MAGICS:
        if name == "capture" and any(not t.startswith("-") for t in line.split()):
            raise _refuse(where, "%%capture into a variable")
        acc.notes.append(f"{where}: %%{name} dropped, its body kept")
        return _rewrite(body, where, known, acc)
    if name == "mlops_sweep":  # the body becomes the objective; the -s names the step's outputs
        from jupyter_mlops.sweeps.cell import export_source

        acc.notes.append(f"{where}: %%mlops_sweep runs its sweep; the -s names get the best values")
        return export_source(line, _rewrite(body, where, known, acc))
    if name in DISPLAY_CELL_MAGICS:
        acc.notes.append(f"{where}: %%{name} cell dropped (display only)")
        return f"# %%{name} cell: display only, not part of the pipeline\n"
    program = SCRIPT_CELL_MAGICS.get(name) or (line.split()[0] if name == "script" and line else "")
    if program:
        acc.modules.add("subprocess")
        acc.notes.append(f"{where}: %%{name} runs its body with {program} (subprocess)")
        return f"subprocess.run([{program!r}], input={_text(body)}, text=True, check=True)\n"
    if name == "writefile" and line.strip():
        return _writefile(line, body, known)
    raise _refuse(where, f"%%{name}", _hint(name))


def _writefile(line: str, body: str, known: frozenset[str]) -> str:
    args = line.split()
    mode = "a" if args[0] in ("-a", "--append") else "w"
    path = command_expression(" ".join(a for a in args if a not in ("-a", "--append")), known)
    return (
        f"with open({path}, {mode!r}, encoding='utf-8') as _file:\n    _file.write({_text(body)})\n"
    )


def _text(body: str) -> str:
    if "\n" in body.rstrip("\n") and '"""' not in body and "\\" not in body:
        return '"""\\\n' + body + '"""'
    return repr(body)


def _fallback_transform(source: str) -> str:
    """A small subset of IPython's transformer: ``!cmd``, ``x = !cmd`` and ``%magic`` lines."""
    if source.lstrip("\n").startswith("%%"):
        header, _, body = source.lstrip("\n").partition("\n")
        name, _, line = header[2:].partition(" ")
        return f"get_ipython().run_cell_magic({name!r}, {line!r}, {body!r})\n"
    out = []
    for text in source.splitlines():
        indent, rest = re.match(r"(\s*)(.*)", text).groups()  # type: ignore[union-attr]
        assigned = re.match(r"([\w.\[\], ]+?)\s*=\s*!(.*)$", rest)
        if assigned:
            rest = f"{assigned.group(1)} = get_ipython().getoutput({assigned.group(2)!r})"
        elif rest.startswith("!"):
            rest = f"get_ipython().system({rest[1:]!r})"
        elif rest.startswith("%") and not rest.startswith("%%"):
            name, _, line = rest[1:].partition(" ")
            rest = f"get_ipython().run_line_magic({name!r}, {line!r})"
        out.append(indent + rest)
    return "\n".join(out) + "\n"
