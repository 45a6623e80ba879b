"""What a notebook becomes: a :class:`Pipeline` of :class:`Step` objects.

These frozen dataclasses are the contract between the analysis (which reads the notebook) and
the targets (which write Python, Airflow or Kubeflow code). A target never looks at the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARAMETER = ""
"""The ``source`` of an input that is a pipeline parameter rather than another step's output."""


@dataclass(frozen=True)
class Cell:
    """One notebook cell as read from disk.

    Attributes
    ----------
    number : int
        1-based position in the notebook, counting every cell (what messages call "cell N").
    kind : str
        ``"code"``, ``"markdown"`` or ``"raw"``.
    source : str
        The cell's text.
    tags : tuple of str
        ``metadata.tags``.
    """

    number: int
    kind: str
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Input:
    """A value a step needs: ``name`` comes from step ``source`` (or is a parameter)."""

    name: str
    source: str

    @property
    def is_parameter(self) -> bool:
        """Whether the value is a pipeline parameter."""
        return self.source == PARAMETER


@dataclass(frozen=True)
class Step:
    """One pipeline step: its own code plus what it brings along and exchanges.

    Attributes
    ----------
    name : str
        A Python identifier, unique in the pipeline.
    cells : tuple of int
        The notebook cells (1-based numbers) whose code the step runs.
    code : str
        The step's own code: its cells, joined, after IPython syntax was rewritten.
    prelude : str
        Code that runs before ``code``: imports and definitions carried from earlier cells and
        the ``imports``/``functions`` cells.
    inputs : tuple of Input
        Values read before the step runs (upstream outputs and parameters).
    outputs : tuple of str
        Names whose values the step hands on (to later steps, or as metrics).
    metrics : tuple of str
        Outputs that are ``pipeline-metrics``.
    after : tuple of str
        Steps that must finish first (data edges and ``prev:`` tags).
    requirements : tuple of str
        Distribution names (pinned when installed here) the step's imports need.
    global_names : tuple of str
        Names that functions of the step declare ``global``: the generated function declares
        them ``global`` too, so both refer to the same variable as in the notebook.
    """

    name: str
    cells: tuple[int, ...]
    code: str
    prelude: str = ""
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    global_names: tuple[str, ...] = ()

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names of the pipeline parameters the step reads."""
        return tuple(i.name for i in self.inputs if i.is_parameter)

    @property
    def cell_range(self) -> str:
        """``"cell 4"`` or ``"cells 4-6"`` for docstrings and messages."""
        if not self.cells:
            return "no cells"
        if len(self.cells) == 1:
            return f"cell {self.cells[0]}"
        return f"cells {self.cells[0]}-{self.cells[-1]}"


@dataclass(frozen=True)
class Pipeline:
    """A notebook as a pipeline.

    Attributes
    ----------
    name : str
        A Python identifier derived from the notebook's file name.
    source : str
        The notebook's path.
    steps : tuple of Step
        In an order that runs every step after the ones it depends on.
    parameters : dict
        Parameter names and default values (``parameters``/``pipeline-parameters`` cells).
    requirements : tuple of str
        Everything the steps need, including ``!pip install`` lines of the notebook.
    notes : tuple of str
        What the export changed and why (dropped magics, shell lines run by subprocess...).
    """

    name: str
    source: str
    steps: tuple[Step, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def step(self, name: str) -> Step:
        """The step called ``name``."""
        return next(s for s in self.steps if s.name == name)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every ``pipeline-metrics`` name, in step order."""
        return tuple(m for s in self.steps for m in s.metrics)
