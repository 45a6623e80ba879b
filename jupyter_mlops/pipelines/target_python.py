"""The ``python`` target: a readable folder that runs here, no orchestrator needed (kale #851).

::

    <output>/
      pipeline.py        the pipeline as data (steps, edges, parameters) and a ``__main__``
      steps/<step>.py    one module per step with ``run(inputs) -> outputs``
      requirements.txt   what the steps import, pinned, plus the notebook's ``pip install``s
      README.md          how to run it, the steps, the parameters, what the export changed

``jupyter mlops run-pipeline <output>`` (or ``python <output>/pipeline.py``) runs it with
:func:`jupyter_mlops.pipelines.runner.run_pipeline`.
"""

from __future__ import annotations

import os

from jupyter_mlops.pipelines import codegen
from jupyter_mlops.pipelines.model import Pipeline, Step

STEPS_FOLDER = "steps"
RUNNER_FILE = "pipeline.py"


class PythonExporter:
    """Writes the ``python`` target."""

    target = "python"

    def write(self, pipeline: Pipeline, folder: str) -> list[str]:
        """Write the folder; return the files written."""
        files = [codegen.write_text(folder, RUNNER_FILE, runner_module(pipeline, folder))]
        for step in pipeline.steps:
            relative = f"{STEPS_FOLDER}/{step.name}.py"
            files.append(codegen.write_text(folder, relative, step_module(pipeline, step)))
        _remove_stale(folder, pipeline)
        files.append(
            codegen.write_text(folder, "requirements.txt", codegen.requirements_text(pipeline))
        )
        files.append(codegen.write_text(folder, "README.md", _readme(pipeline)))
        return files

    def finish(self, pipeline: Pipeline, folder: str, files: list[str]) -> list[str]:
        """Nothing to compile for this target."""
        return files


def step_module(pipeline: Pipeline, step: Step) -> str:
    """The source of ``steps/<step>.py``."""
    source = os.path.basename(pipeline.source)
    doc = (
        f"Step ``{step.name}`` of the pipeline ``{pipeline.name}``: {step.cell_range} of "
        f"{source}.\n\n{codegen.HEADER.format(source=source)}\n\n{codegen.inputs_summary(step)}"
    )
    unpack = [f"{i.name} = inputs[{i.name!r}]" for i in step.inputs]
    returned = ", ".join(f"{name!r}: {name}" for name in step.outputs)
    body = ("\n".join(unpack) + "\n\n" if unpack else "") + codegen.step_body(step)
    return (
        f"{codegen.docstring(doc)}\n\n\n"
        "def run(inputs):\n"
        '    """Run the step: ``inputs`` maps input names to values; returns the outputs."""\n'
        f"{codegen.indent(body)}\n\n"
        f"    return {{{returned}}}\n"
    )


def runner_module(pipeline: Pipeline, folder: str) -> str:
    """The source of ``pipeline.py``: the pipeline as data plus ``__main__``."""
    source = os.path.basename(pipeline.source)
    notebook_dir = os.path.dirname(os.path.abspath(pipeline.source))
    workdir = os.path.relpath(notebook_dir, os.path.abspath(folder))
    doc = (
        f"Pipeline ``{pipeline.name}``, exported by jupyter_mlops from ``{source}``.\n\n"
        "Run it (parameters can be overridden; unchanged steps are skipped):\n\n"
        "    python pipeline.py -p KEY=VALUE\n"
        "    jupyter mlops run-pipeline FOLDER -p KEY=VALUE\n\n"
        "Values between steps are kept in ``data/``, the cache manifest in ``cache.json``;\n"
        "each run is tracked by jupyter_mlops as a run with a child run per step."
    )
    params = "".join(f"    {k!r}: {codegen.literal(v)},\n" for k, v in pipeline.parameters.items())
    steps = "".join(_step_entry(step) for step in pipeline.steps)
    return (
        f"{codegen.docstring(doc)}\n\n"
        f"NAME = {pipeline.name!r}\n"
        f"SOURCE = {source!r}\n"
        "# Steps run in this folder (relative to this file): the notebook's, as in Jupyter.\n"
        f"WORKDIR = {workdir!r}\n"
        f"PARAMETERS = {{\n{params}}}\n"
        f"METRICS = {list(pipeline.metrics)!r}\n"
        "# Steps in the order they run; an input's source is a step, or None for a parameter.\n"
        f"STEPS = [\n{steps}]\n\n\n"
        'if __name__ == "__main__":\n'
        "    import sys\n\n"
        "    from jupyter_mlops.pipelines.runner import main\n\n"
        "    sys.exit(main([__file__, *sys.argv[1:]]))\n"
    )


def _step_entry(step: Step) -> str:
    inputs = ", ".join(f"{i.name!r}: {None if i.is_parameter else i.source!r}" for i in step.inputs)
    return (
        "    {\n"
        f"        'name': {step.name!r},\n"
        f"        'module': '{STEPS_FOLDER}/{step.name}.py',\n"
        f"        'after': {list(step.after)!r},\n"
        f"        'inputs': {{{inputs}}},\n"
        f"        'outputs': {list(step.outputs)!r},\n"
        f"        'metrics': {list(step.metrics)!r},\n"
        "    },\n"
    )


def _remove_stale(folder: str, pipeline: Pipeline) -> None:
    """Delete step modules of an earlier export whose step no longer exists."""
    steps = os.path.join(folder, STEPS_FOLDER)
    wanted = {f"{s.name}.py" for s in pipeline.steps}
    for entry in os.listdir(steps):
        path = os.path.join(steps, entry)
        if entry.endswith(".py") and entry not in wanted and _generated(path):
            os.remove(path)


def _generated(path: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return "Generated by jupyter_mlops" in fh.read(2000)


def _readme(pipeline: Pipeline) -> str:
    usage = (
        "```bash\n"
        "jupyter mlops run-pipeline .            # or: python pipeline.py\n"
        "jupyter mlops run-pipeline . -p KEY=VALUE\n"
        "```\n\n"
        "From Python: `jupyter_mlops.pipelines.run_pipeline(folder, {'KEY': VALUE})`. A step whose "
        "code, parameters and inputs have not changed since the last run is skipped "
        "(`cache.json`); each run is tracked as a run with one child run per step."
    )
    return codegen.readme_text(pipeline, f"Pipeline `{pipeline.name}` (local Python)", usage)
