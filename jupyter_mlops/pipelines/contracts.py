"""The ``contract:<output>=<source>`` cell tag: a step's output checked against a data contract.

``contract:features=contracts/features.yaml`` on a code cell appends two lines to that cell::

    from jupyter_mlops.contracts.checks import check_output as _mlops_check_output
    _mlops_check_output(features, 'contracts/features.yaml', 'features', 'build_features')

so the check is part of the step's own code and runs in every target (``python``, Airflow,
Kubeflow). When the output breaks the contract the step raises ``ContractViolation`` (its
``.report`` is the ``DataValidationReport``) and the run stops there. ``<source>`` is a contract
file (relative to the notebook's folder, where the ``python`` target runs steps) or a model URI
(``models:/churn@prod``: the contract recorded with that version).
"""

from __future__ import annotations

import dataclasses

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.pipelines.model import Cell

PREFIX = "contract:"


def with_contract_checks(cells: tuple[Cell, ...], step_of: dict[int, str]) -> tuple[Cell, ...]:
    """``cells`` with the check lines their ``contract:`` tags ask for appended."""
    return tuple(_checked(cell, step_of.get(cell.number, "")) for cell in cells)


def _checked(cell: Cell, step: str) -> Cell:
    tags = [t for t in cell.tags if t.startswith(PREFIX)]
    if not tags:
        return cell
    if cell.kind != "code":
        raise InvalidInput(f"Cell {cell.number} has a {tags[0]} tag but is not a code cell.")
    lines = [
        "",
        "from jupyter_mlops.contracts.checks import check_output as _mlops_check_output",
    ]
    for tag in tags:
        name, source = _parse(tag, cell.number)
        lines.append(f"_mlops_check_output({name}, {source!r}, {name!r}, {step!r})")
    return dataclasses.replace(cell, source=cell.source.rstrip("\n") + "\n".join(lines) + "\n")


def _parse(tag: str, number: int) -> tuple[str, str]:
    body = tag[len(PREFIX) :]
    name, sep, source = body.partition("=")
    if not sep or not name.isidentifier() or not source:
        raise InvalidInput(
            f"Cell {number}: cannot read the tag {tag!r}; write contract:<output>=<file or "
            "model URI>, e.g. contract:features=contracts/features.yaml."
        )
    return name, source
