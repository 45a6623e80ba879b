"""Read a notebook file into :class:`~jupyter_mlops.pipelines.model.Cell` objects, read-only.

The file is parsed as JSON and checked for the few fields the export uses, so that a text file,
a truncated download or a JSON document that is not a notebook all end in one
:class:`~jupyter_mlops.errors.InvalidInput` that names the file. Notebooks older than format 4
go through nbformat's converter. Nothing here ever writes to the notebook (elyra #2983).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any

from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.pipelines.model import Cell

_KINDS = ("code", "markdown", "raw")


def read_cells(path: str | os.PathLike[str]) -> tuple[Cell, ...]:
    """The cells of the notebook at ``path``.

    Raises
    ------
    NotFound
        No file at ``path``.
    InvalidInput
        The file is not a Jupyter notebook.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NotFound(f"Notebook {path!r} does not exist. Check the path.")
    if os.path.isdir(path):
        raise InvalidInput(f"{path!r} is a folder, not a notebook. Give the path of a .ipynb file.")
    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except (UnicodeDecodeError, ValueError) as e:
        raise _not_a_notebook(path, f"not JSON: {e}") from None
    return _cells(path, _as_v4(path, document))


def pipeline_name(path: str | os.PathLike[str]) -> str:
    """A Python identifier from the file name (``Churn Model.ipynb`` → ``churn_model``)."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return identifier(stem) or "pipeline"


def identifier(text: str) -> str:
    """``text`` as a lowercase Python identifier (``''`` when nothing is left)."""
    name = re.sub(r"\W+", "_", text.strip().lower(), flags=re.ASCII).strip("_")
    if name and name[0].isdigit():
        name = f"step_{name}"
    return name


def _not_a_notebook(path: str, reason: str) -> InvalidInput:
    return InvalidInput(
        f"{path!r} is not a Jupyter notebook ({reason}). Export a .ipynb file saved by Jupyter."
    )


def _as_v4(path: str, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise _not_a_notebook(path, f"the JSON is a {type(document).__name__}, not an object")
    if document.get("nbformat", 4) >= 4 or "cells" in document:
        return document
    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's own upgrade notices are not the user's
            return dict(nbformat.reads(json.dumps(document), as_version=4))
    except Exception as e:
        raise _not_a_notebook(path, f"format {document.get('nbformat')!r}: {e}") from None


def _cells(path: str, document: dict[str, Any]) -> tuple[Cell, ...]:
    raw = document.get("cells")
    if not isinstance(raw, list):
        raise _not_a_notebook(path, "it has no list of cells")
    return tuple(_cell(path, number, item) for number, item in enumerate(raw, start=1))


def _cell(path: str, number: int, item: Any) -> Cell:
    if not isinstance(item, dict) or item.get("cell_type") not in _KINDS:
        raise _not_a_notebook(path, f"cell {number} has no valid cell_type")
    source = item.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise _not_a_notebook(path, f"the source of cell {number} is not text")
    metadata = item.get("metadata")
    tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
    clean = tuple(t.strip() for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()
    return Cell(number=number, kind=item["cell_type"], source=source, tags=clean)
