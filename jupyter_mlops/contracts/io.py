"""Contracts as text and files: readable YAML (PyYAML, which Jupyter itself depends on) or JSON.

YAML is written with PyYAML's safe dumper, block style for mappings and flow style for short
lists (``range: [18, 95]``, ``categories: [a, b]``), keys in the order of
:data:`~jupyter_mlops.contracts.keys.RULE_KEYS`. It is read with ``yaml.safe_load``, so a
contract file can never run code. PyYAML comes with ``jupyter_events`` (a dependency of
``jupyter_server``), so it is always installed where jupyter_mlops is.
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_mlops import jsonable
from jupyter_mlops.errors import InvalidInput, NotFound, StoreError

YAML_SUFFIXES = (".yaml", ".yml")


def plain(value: Any) -> Any:
    """``value`` as JSON-able Python values, infinite range ends kept, timestamps as ISO text."""
    return jsonable.plain(value, keep_infinity=True, dates=True)


def dump_json(data: dict[str, Any]) -> str:
    """Indented JSON (infinite range ends as ``Infinity``, which Python's json reads back)."""
    return json.dumps(plain(data), indent=2) + "\n"


def dump_yaml(data: dict[str, Any]) -> str:
    """Readable YAML: block mappings, flow-style short lists, keys in the given order."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def lists(dumper: Any, items: list[Any]) -> Any:
        flow = all(not isinstance(i, (dict, list)) for i in items) and len(items) <= 60
        return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)

    _Dumper.add_representer(list, lists)
    text: str = yaml.dump(
        plain(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )
    return text


def parse_text(text: str, where: str = "the contract") -> dict[str, Any]:
    """A contract mapping from YAML or JSON text (JSON is valid YAML, but read as JSON first)."""
    import yaml

    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InvalidInput(f"{where} is neither JSON nor YAML: {_first_line(e)}.") from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{where} must hold a mapping with a 'columns' mapping, not {data!r:.80}."
        )
    return data


def _first_line(error: Exception) -> str:
    return " ".join(str(error).split())[:300]


def save_contract(contract: Any, path: str | os.PathLike[str]) -> str:
    """Write ``contract`` to ``path``: YAML for ``.yaml``/``.yml``, JSON otherwise."""
    path = os.fspath(path)
    text = contract.to_yaml() if path.lower().endswith(YAML_SUFFIXES) else contract.to_json()
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise StoreError(f"Cannot write the contract to {path}: {e.strerror or e}.") from None
    return path


def read_contract_file(path: str) -> dict[str, Any]:
    """The mapping saved in a contract file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise NotFound(f"No contract file {path}; save one with contract.save({path!r}).") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"Cannot read the contract file {path}: {e}.") from None
    return parse_text(text, f"The contract file {path}")
