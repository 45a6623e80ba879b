"""``jupyter mlops export`` and ``jupyter mlops run-pipeline``: thin adapters over the core.

``jupyter_mlops/cli.py`` calls :func:`add_commands` with its subparsers; errors of ours
(``MlopsError``) are turned into one line and exit code 2 there. An exception raised by a
step's own code keeps its traceback, which points into the step module.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from jupyter_mlops.pipelines.export import TARGETS


def add_commands(subparsers: Any) -> None:
    """Register ``export`` and ``run-pipeline`` on ``subparsers`` (from ``add_subparsers``)."""
    export = subparsers.add_parser(
        "export",
        help="turn a notebook into a pipeline: local Python, an Airflow DAG or a Kubeflow pipeline",
        description="Steps come from Kale's cell tags (block:NAME, prev:NAME, imports, functions, "
        "pipeline-parameters, pipeline-metrics, skip) or, without tags, from markdown headings. "
        "The notebook is only read.",
    )
    export.add_argument("notebook", help="the .ipynb file")
    export.add_argument("--to", dest="target", required=True, choices=TARGETS, help="target")
    export.add_argument("-o", "--output", help="folder to write (default: NOTEBOOK_<target>/)")
    export.add_argument(
        "--single-step", action="store_true", help="one step for the whole notebook"
    )
    export.set_defaults(handler=_export)

    run = subparsers.add_parser(
        "run-pipeline",
        help="run an exported python pipeline here (unchanged steps are skipped; tracked)",
    )
    run.add_argument("folder", help="a folder written by `export --to python`")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter",
    )
    run.add_argument("--force", action="store_true", help="run every step, even unchanged ones")
    run.add_argument("-e", "--experiment", help="experiment (default: the pipeline's name)")
    run.set_defaults(handler=_run)


def _use_store(args: argparse.Namespace) -> None:
    store = getattr(args, "store", None)
    if store:
        from jupyter_mlops.store import set_tracking_uri

        set_tracking_uri(store)
        os.environ["JUPYTER_MLOPS_STORE"] = store


def _export(args: argparse.Namespace) -> int:
    from jupyter_mlops.pipelines.export import describe_export, export_notebook

    files = export_notebook(args.notebook, args.target, args.output, single_step=args.single_step)
    print(describe_export(args.notebook, args.target, files))
    return 0


def _run(args: argparse.Namespace) -> int:
    from jupyter_mlops.pipelines.runner import parse_parameters, print_run, run_pipeline

    _use_store(args)
    params = parse_parameters(args.param)
    result = run_pipeline(args.folder, params, force=args.force, experiment=args.experiment)
    print_run(result)
    return 0
