"""``export_notebook``: a notebook → a pipeline for one target, written into a folder.

A target is a small class with ``target``, ``write(pipeline, folder) -> files`` and
``finish(pipeline, folder, files) -> files`` (run after the generated code is formatted, e.g.
to compile it); :data:`EXPORTERS` lists them. The notebook itself is only ever read.
"""

from __future__ import annotations

import os
from typing import Protocol

from jupyter_mlops.errors import InvalidInput
from jupyter_mlops.pipelines.build import build_pipeline
from jupyter_mlops.pipelines.codegen import format_python
from jupyter_mlops.pipelines.model import Pipeline
from jupyter_mlops.pipelines.target_airflow import AirflowExporter
from jupyter_mlops.pipelines.target_kfp import KfpExporter
from jupyter_mlops.pipelines.target_python import PythonExporter


class Exporter(Protocol):
    """What a target provides."""

    target: str

    def write(self, pipeline: Pipeline, folder: str) -> list[str]:
        """Write the target's files into ``folder``; return their paths."""

    def finish(self, pipeline: Pipeline, folder: str, files: list[str]) -> list[str]:
        """Work on the formatted files (compile...); return every file of the export."""


EXPORTERS: dict[str, Exporter] = {
    e.target: e for e in (PythonExporter(), AirflowExporter(), KfpExporter())
}
TARGETS = tuple(EXPORTERS)


def export_notebook(
    path: str | os.PathLike[str],
    target: str = "python",
    output_dir: str | os.PathLike[str] | None = None,
    single_step: bool = False,
) -> list[str]:
    """Export the notebook at ``path`` as a pipeline for ``target``.

    Parameters
    ----------
    path : str
        A ``.ipynb`` file. It is read, never written.
    target : {"python", "airflow", "kfp"}
        ``python``: a folder that runs here (``jupyter mlops run-pipeline``); ``airflow``: a
        TaskFlow DAG file; ``kfp``: a Kubeflow Pipelines v2 module and, when kfp is installed,
        the YAML its compiler makes from it.
    output_dir : str, optional
        Where to write (default: ``<notebook folder>/<notebook name>_<target>``).
    single_step : bool
        One step for the whole notebook instead of one per tag or heading.

    Returns
    -------
    list of str
        Absolute paths of the files written.

    Raises
    ------
    InvalidInput
        An unknown target, a notebook that cannot become a pipeline (the message says which
        cell and what to do), or a folder that cannot be written.
    NotFound
        No notebook at ``path``.
    """
    exporter = EXPORTERS.get(target)
    if exporter is None:
        raise InvalidInput(f"Unknown target {target!r}; choose one of: {', '.join(TARGETS)}.")
    pipeline = build_pipeline(path, single_step=single_step)
    folder = os.path.abspath(os.fspath(output_dir) if output_dir else default_folder(path, target))
    try:
        _check_folder(folder, pipeline.source)
        files = exporter.write(pipeline, folder)
        format_python(files)
        return exporter.finish(pipeline, folder, files)
    except OSError as e:  # a read-only folder, a full disk, a name the file system refuses
        raise InvalidInput(
            f"Cannot write the pipeline into {folder}: {e.strerror or e}"
            f"{f' ({os.path.basename(str(e.filename))[:60]})' if e.filename else ''}. "
            "Pick another folder with -o DIR."
        ) from e


def default_folder(path: str | os.PathLike[str], target: str) -> str:
    """``<notebook folder>/<notebook name>_<target>``."""
    notebook = os.path.abspath(os.fspath(path))
    stem = os.path.splitext(os.path.basename(notebook))[0]
    return os.path.join(os.path.dirname(notebook), f"{stem}_{target}")


def _check_folder(folder: str, notebook: str) -> None:
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InvalidInput(f"Output {folder!r} is a file; give a folder (-o DIR).")
    if os.path.abspath(notebook) == folder:
        raise InvalidInput("The output folder cannot be the notebook itself.")
    os.makedirs(folder, exist_ok=True)


def describe_export(notebook: str | os.PathLike[str], target: str, files: list[str]) -> str:
    """One line for people: what was written where, and what to do next."""
    folder = os.path.dirname(files[0]) if files else ""
    name = os.path.basename(os.fspath(notebook))
    line = f"✓ exported {name} → {folder}/ ({len(files)} files)"
    if target == "python":
        return f"{line} · run it: jupyter mlops run-pipeline {folder}"
    if target == "kfp" and not any(f.endswith(".yaml") for f in files):
        module = next(f for f in files if f.endswith("_kfp.py"))
        return f"{line} · kfp is not installed here: compile with `python {module}`"
    return line
