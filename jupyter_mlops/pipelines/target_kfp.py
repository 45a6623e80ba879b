"""The ``kfp`` target: a Kubeflow Pipelines v2 module and the YAML kfp compiles from it, offline.

Each step is a ``@dsl.component`` (lightweight Python component) whose parameters are the
pipeline parameters it reads and whose artifacts are the values it exchanges: an
``Input[Artifact]`` per input, an ``Output[Artifact]`` per output (a folder holding one file,
format by type), an ``Output[Metrics]`` for ``pipeline-metrics``. The serializers are plain
functions in the module, copied into every component through kfp's ``additional_funcs``, so the
images need the step's packages (``packages_to_install``, pinned) but not jupyter_mlops.

When kfp is importable at export time the module is compiled (``kfp.compiler.Compiler``, no
cluster needed) into ``<name>.yaml``; otherwise ``python <name>_kfp.py`` compiles it later.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.pipelines import codegen
from jupyter_mlops.pipelines.model import Input, Pipeline, Step
from jupyter_mlops.pipelines.serializers import EMBEDDED, embedded_source

_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
_PROLOGUE = """
import os

from kfp import compiler, dsl
from kfp.dsl import Artifact, Input, Metrics, Output

BASE_IMAGE = {image!r}
"""


class KfpExporter:
    """Writes the ``kfp`` target."""

    target = "kfp"

    def write(self, pipeline: Pipeline, folder: str) -> list[str]:
        """Write ``<name>_kfp.py``, ``requirements.txt`` and ``README.md``."""
        module = f"{pipeline.name}_kfp.py"
        return [
            codegen.write_text(folder, module, pipeline_module(pipeline)),
            codegen.write_text(folder, "requirements.txt", codegen.requirements_text(pipeline)),
            codegen.write_text(folder, "README.md", _readme(pipeline, module)),
        ]

    def finish(self, pipeline: Pipeline, folder: str, files: list[str]) -> list[str]:
        """Compile the module into ``<name>.yaml`` when kfp is importable here."""
        if importlib.util.find_spec("kfp") is None:
            return files
        return [*files, compile_module(files[0], yaml_path(folder, pipeline))]


def yaml_path(folder: str, pipeline: Pipeline) -> str:
    """Where the compiled pipeline goes."""
    return os.path.join(folder, f"{pipeline.name}.yaml")


def compile_module(module_path: str, output: str) -> str:
    """Import the generated module and compile its pipeline with kfp's compiler (offline)."""
    spec = importlib.util.spec_from_file_location("jupyter_mlops_kfp_export", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        from kfp import compiler

        compiler.Compiler().compile(module.PIPELINE, package_path=output)
    except Exception as e:  # our generated code failed kfp's checks: say so plainly
        raise InvalidInput(f"kfp could not compile {module_path}: {type(e).__name__}: {e}") from e
    return output


def pipeline_module(pipeline: Pipeline) -> str:
    """The source of the KFP module."""
    source = os.path.basename(pipeline.source)
    doc = (
        f"Kubeflow Pipelines (v2) pipeline ``{pipeline.name}``, exported by jupyter_mlops from "
        f"``{source}``.\n\n{codegen.HEADER.format(source=source)}\n\n"
        f"Compile it (offline) into {pipeline.name}.yaml:  python {pipeline.name}_kfp.py\n"
        "Then upload the YAML in the Kubeflow Pipelines UI, or submit it with\n"
        "kfp.Client().create_run_from_pipeline_package(...)."
    )
    image = f"python:{sys.version_info.major}.{sys.version_info.minor}"
    names = ", ".join(f.__name__ for f in EMBEDDED)
    parts = [
        codegen.docstring(doc),
        _PROLOGUE.format(image=image).strip("\n"),
        "# -- jupyter_mlops serializers: one file per value, format by type --\n"
        + embedded_source(),
        "# Copied into every component's script: a component must be self-contained.\n"
        f"SERIALIZERS = [{names}]",
        *(_component(pipeline, step) for step in pipeline.steps),
        _pipeline_function(pipeline),
        f"PIPELINE = {pipeline.name}_pipeline",
        _MAIN.format(name=pipeline.name).strip("\n"),
    ]
    return "\n\n\n".join(parts) + "\n"


_MAIN = """
if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    compiler.Compiler().compile(PIPELINE, package_path=os.path.join(here, "{name}.yaml"))
"""


def output_names(step: Step) -> dict[str, str]:
    """The artifact parameter of each output: ``<name>_out``, made unique."""
    taken = {i.name for i in step.inputs} | {"mlpipeline_metrics"}
    names = {}
    for name in step.outputs:
        candidate = f"{name}_out"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names[name] = candidate
    return names


def _signature(pipeline: Pipeline, step: Step) -> str:
    args = [
        f"{i.name}: {_type(pipeline.parameters[i.name], i.name)}"
        if i.is_parameter
        else f"{i.name}: Input[Artifact]"
        for i in step.inputs
    ]
    args += [f"{out}: Output[Artifact]" for out in output_names(step).values()]
    args += ["mlpipeline_metrics: Output[Metrics]"] if step.metrics else []
    return ", ".join(args)


def _type(value: object, name: str) -> str:
    kind = _TYPES.get(type(value))
    if kind is None:
        raise InvalidInput(
            f"Parameter {name!r} = {value!r}: Kubeflow parameters are bool, int, float, str, "
            "list or dict. Change its default value."
        )
    return kind


def _component(pipeline: Pipeline, step: Step) -> str:
    doc = (
        f"Step ``{step.name}``: {step.cell_range} of {os.path.basename(pipeline.source)}.\n\n"
        f"{codegen.inputs_summary(step)}"
    )
    loads = [
        f'{i.name} = read_value({i.name}.path, "value")' for i in step.inputs if not i.is_parameter
    ]
    saves = [f'save_value({n}, {out}.path, "value")' for n, out in output_names(step).items()]
    saves += [f'mlpipeline_metrics.log_metric("{m}", float({m}))' for m in step.metrics]
    body = ("\n".join(loads) + "\n\n" if loads else "") + codegen.step_body(step)
    body += "\n\n" + "\n".join(saves)
    packages = list(step.requirements)
    return (
        "@dsl.component(\n"
        "    base_image=BASE_IMAGE,\n"
        f"    packages_to_install={packages!r},\n"
        "    additional_funcs=SERIALIZERS,\n"
        ")\n"
        f"def {step.name}({_signature(pipeline, step)}):\n"
        f"{codegen.docstring(doc, '    ')}\n"
        f"{codegen.indent(body.rstrip())}\n"
    )


def _pipeline_function(pipeline: Pipeline) -> str:
    params = ", ".join(
        f"{k}: {_type(v, k)} = {codegen.literal(v)}" for k, v in pipeline.parameters.items()
    )
    lines = []
    for step in pipeline.steps:
        args = [
            f"{i.name}={i.name}" if i.is_parameter else _artifact(pipeline, i) for i in step.inputs
        ]
        lines.append(f"{step.name}_task = {step.name}({', '.join(args)})")
        data = {i.source for i in step.inputs if not i.is_parameter}
        lines += [f"{step.name}_task.after({up}_task)" for up in step.after if up not in data]
    description = f"Exported by jupyter_mlops from {os.path.basename(pipeline.source)}"
    return (
        f"@dsl.pipeline(name={pipeline.name.replace('_', '-')!r}, description={description!r})\n"
        f"def {pipeline.name}_pipeline({params}):\n"
        f"{codegen.indent(chr(10).join(lines))}\n"
    )


def _artifact(pipeline: Pipeline, item: Input) -> str:
    output = output_names(pipeline.step(item.source))[item.name]
    return f'{item.name}={item.source}_task.outputs["{output}"]'


def _readme(pipeline: Pipeline, module: str) -> str:
    usage = (
        "```bash\n"
        f"python {module}        # compiles {pipeline.name}.yaml (needs `pip install kfp`)\n"
        "```\n\n"
        "Upload the YAML in the Kubeflow Pipelines UI or submit it with "
        "`kfp.Client().create_run_from_pipeline_package(...)`. To try it without a cluster:\n\n"
        "```python\n"
        "from kfp import local\n"
        "local.init(runner=local.SubprocessRunner(use_venv=False))\n"
        f"from {module[:-3]} import PIPELINE\n"
        "PIPELINE()\n"
        "```"
    )
    return codegen.readme_text(
        pipeline, f"Pipeline `{pipeline.name}` (Kubeflow Pipelines v2)", usage
    )
