"""The ``airflow`` target: one TaskFlow DAG file (``from airflow.sdk import dag, task``).

Each step is a ``@task`` that reads its inputs from files, runs the step's code and writes its
outputs, so a DataFrame or a model never goes through XCom (only the ``pipeline-metrics``
are returned, as a small dict). Files live under ``JUPYTER_MLOPS_PIPELINE_DATA`` (default: the
temporary folder), one folder per DAG run — no object store needed (elyra #2185); with several
workers, point it at a filesystem they share. The DAG file imports nothing but Airflow and the
standard library at parse time: the step's own imports run inside its task, which keeps the
scheduler's DagBag import fast and free of the notebook's dependencies. The file also holds
the jupyter_mlops serializers, so the workers do not need jupyter_mlops.
"""

from __future__ import annotations

import os

from jupyter_mlops.pipelines import codegen
from jupyter_mlops.pipelines.model import Pipeline, Step
from jupyter_mlops.pipelines.serializers import embedded_source

_PROLOGUE = '''
from __future__ import annotations

import datetime
import os
import re
import tempfile

from airflow.sdk import dag, get_current_context, task

DAG_ID = {dag_id!r}
PARAMETERS = {parameters}
# Values pass between tasks as files, one folder per DAG run. With several workers, point
# JUPYTER_MLOPS_PIPELINE_DATA at a filesystem they all mount.
DATA = os.environ.get("JUPYTER_MLOPS_PIPELINE_DATA") or os.path.join(
    tempfile.gettempdir(), "jupyter_mlops", DAG_ID
)


def _run_folder():
    """This DAG run's data folder, and the run's parameters."""
    context = get_current_context()
    run = re.sub(r"[^\\w.-]+", "_", str(context["run_id"]))
    return os.path.join(DATA, run), context["params"]


def _load(folder, step, name):
    """The value ``name`` that task ``step`` saved in this run."""
    return read_value(os.path.join(folder, step), name)


def _save(value, folder, step, name):
    """Save ``value`` as ``name`` of task ``step`` in this run."""
    save_value(value, os.path.join(folder, step), name)
'''


_MAIN = """
if __name__ == "__main__":
    # Runs every task in this process (needs `airflow db migrate` once per AIRFLOW_HOME).
    {name}.test()
"""


class AirflowExporter:
    """Writes the ``airflow`` target."""

    target = "airflow"

    def write(self, pipeline: Pipeline, folder: str) -> list[str]:
        """Write ``<name>_dag.py``, ``requirements.txt`` and ``README.md``."""
        dag_file = f"{pipeline.name}_dag.py"
        return [
            codegen.write_text(folder, dag_file, dag_module(pipeline)),
            codegen.write_text(folder, "requirements.txt", codegen.requirements_text(pipeline)),
            codegen.write_text(folder, "README.md", _readme(pipeline, dag_file)),
        ]

    def finish(self, pipeline: Pipeline, folder: str, files: list[str]) -> list[str]:
        """Nothing to compile: Airflow imports the file itself."""
        return files


def dag_module(pipeline: Pipeline) -> str:
    """The source of the DAG file."""
    source = os.path.basename(pipeline.source)
    doc = (
        f"Airflow DAG ``{pipeline.name}``, exported by jupyter_mlops from ``{source}``.\n\n"
        f"{codegen.HEADER.format(source=source)}\n\n"
        "Copy this file into Airflow's DAGs folder; the workers need the packages in\n"
        "requirements.txt. Parameters can be overridden when triggering a run:\n"
        f"airflow dags trigger {pipeline.name} --conf '{{\"KEY\": VALUE}}'"
    )
    params = (
        "{"
        + ", ".join(f"{k!r}: {codegen.literal(v)}" for k, v in pipeline.parameters.items())
        + "}"
    )
    parts = [
        codegen.docstring(doc),
        _PROLOGUE.format(dag_id=pipeline.name, parameters=params).strip("\n"),
        "# -- jupyter_mlops serializers: one file per value, format by type --\n"
        + embedded_source(),
        *(_task(pipeline, step) for step in pipeline.steps),
        _dag_function(pipeline),
        f"{pipeline.name} = {pipeline.name}_dag()",
        _MAIN.format(name=pipeline.name).strip("\n"),
    ]
    return "\n\n\n".join(parts) + "\n"


def _task(pipeline: Pipeline, step: Step) -> str:
    doc = (
        f"Step ``{step.name}``: {step.cell_range} of {os.path.basename(pipeline.source)}.\n\n"
        f"{codegen.inputs_summary(step)}"
    )
    # Underscored: the step's own code may well use `folder` or `params`.
    lines = ["_folder, _params = _run_folder()"]
    lines += [
        f"{i.name} = _params[{i.name!r}]"
        if i.is_parameter
        else f"{i.name} = _load(_folder, {i.source!r}, {i.name!r})"
        for i in step.inputs
    ]
    save = [f"_save({n}, _folder, {step.name!r}, {n!r})" for n in step.outputs]
    metrics = ", ".join(f"{m!r}: float({m})" for m in step.metrics)
    body = "\n".join(lines) + "\n\n" + codegen.step_body(step) + "\n\n" + "\n".join(save)
    body += f"\nreturn {{{metrics}}}" if metrics else ""
    return (
        f"@task(task_id={step.name!r})\n"
        f"def {step.name}_step():\n"
        f"{codegen.docstring(doc, '    ')}\n"
        f"{codegen.indent(body.rstrip())}\n"
    )


def _dag_function(pipeline: Pipeline) -> str:
    calls = [f"{s.name} = {s.name}_step()" for s in pipeline.steps]
    edges = [f"{up} >> {s.name}" for s in pipeline.steps for up in s.after]
    body = "\n".join(calls + ([""] + edges if edges else []))
    return (
        "@dag(\n"
        "    dag_id=DAG_ID,\n"
        "    schedule=None,\n"
        "    start_date=datetime.datetime(2025, 1, 1),\n"
        "    catchup=False,\n"
        "    params=PARAMETERS,\n"
        '    tags=["jupyter_mlops"],\n'
        "    doc_md=__doc__,\n"
        ")\n"
        f"def {pipeline.name}_dag():\n"
        f"{codegen.indent(body)}\n"
    )


def _readme(pipeline: Pipeline, dag_file: str) -> str:
    usage = (
        f"Copy `{dag_file}` into Airflow's DAGs folder and install `requirements.txt` on the "
        "workers. Check that Airflow imports it:\n\n"
        "```bash\n"
        f'python -c "from airflow.dag_processing.dagbag import DagBag; '
        f"print(DagBag(dag_folder='{dag_file}').import_errors)\"\n"
        f"airflow dags test {pipeline.name}\n"
        "```\n\n"
        "Values pass between tasks as files under `JUPYTER_MLOPS_PIPELINE_DATA` (default: the "
        "temporary folder), one folder per DAG run; point it at a shared filesystem when tasks "
        "run on several machines."
    )
    return codegen.readme_text(pipeline, f"Pipeline `{pipeline.name}` (Airflow DAG)", usage)
