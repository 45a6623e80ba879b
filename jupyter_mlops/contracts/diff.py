"""What changed between two contracts (e.g. two versions of a model): columns and rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jupyter_mlops.contracts.keys import RULE_KEYS

if TYPE_CHECKING:
    from jupyter_mlops.contracts.model import DataContract


@dataclass(frozen=True)
class RuleChange:
    """One rule of one column that differs: ``old`` or ``new`` is ``None`` when absent."""

    column: str
    rule: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"~ {self.column}.{self.rule}: {_shown(self.old)} → {_shown(self.new)}"


@dataclass(frozen=True)
class ContractDiff:
    """Columns added and removed, and the rules that changed, from ``old`` to ``new``."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[RuleChange, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``added``, ``removed`` and ``changed`` (``{column, rule, old, new}``)."""
        from jupyter_mlops.contracts.io import plain

        return plain(
            {
                "added": list(self.added),
                "removed": list(self.removed),
                "changed": [vars(c) for c in self.changed],
            }
        )

    def __str__(self) -> str:
        if not self:
            return "The contracts are the same."
        lines = [f"+ {name}" for name in self.added] + [f"- {name}" for name in self.removed]
        return "\n".join(lines + [str(c) for c in self.changed])

    def __repr__(self) -> str:
        return (
            f"<ContractDiff {len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.changed)} rules changed>"
        )


def diff_contracts(old: DataContract, new: DataContract) -> ContractDiff:
    """The rules that differ between ``old`` and ``new`` (profiles are not compared)."""
    added = tuple(c for c in new.columns if c not in old)
    removed = tuple(c for c in old.columns if c not in new)
    changed = []
    for column in old:
        if column.name not in new:
            continue
        before, after = column.rules(), new[column.name].rules()
        for rule in RULE_KEYS:
            if _differs(rule, before.get(rule), after.get(rule)):
                changed.append(RuleChange(column.name, rule, before.get(rule), after.get(rule)))
    return ContractDiff(added, removed, tuple(changed))


def _differs(rule: str, old: Any, new: Any) -> bool:
    if rule == "categories" and old is not None and new is not None:
        return set(map(repr, old)) != set(map(repr, new))  # the order of categories is not a rule
    return bool(old != new)


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list) and len(value) > 8:
        return f"[{', '.join(map(repr, value[:8]))}, ... {len(value)} values]"
    return repr(value)
