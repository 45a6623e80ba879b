"""Notebook → pipeline: Kale-compatible steps, static dependency analysis, three targets.

``export_notebook(path, target="python"|"airflow"|"kfp")`` writes a pipeline;
``run_pipeline(folder, params)`` runs an exported ``python`` pipeline here, cached and tracked.
See ``docs/pipelines.md``. Plain Python: nothing here imports IPython at import time (IPython's
input transformer is used lazily, as a parser).
"""

from __future__ import annotations

from jupyter_mlops._lazy import lazy_api

_API = {
    "export_notebook": "jupyter_mlops.pipelines.export",
    "TARGETS": "jupyter_mlops.pipelines.export",
    "build_pipeline": "jupyter_mlops.pipelines.build",
    "run_pipeline": "jupyter_mlops.pipelines.runner",
    "PipelineRun": "jupyter_mlops.pipelines.runner",
    "Pipeline": "jupyter_mlops.pipelines.model",
    "Step": "jupyter_mlops.pipelines.model",
}
__getattr__, __dir__, __all__ = lazy_api(__name__, _API)
