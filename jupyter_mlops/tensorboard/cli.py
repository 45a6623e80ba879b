"""``jupyter mlops tensorboard export|import``: thin adapters over the core.

``jupyter_mlops/cli.py`` calls :func:`add_commands` with its subparsers; errors of ours
(``MlopsError``) become one line and exit code 2 there.
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def add_commands(subparsers: Any) -> None:
    """Register ``tensorboard export`` and ``tensorboard import``."""
    tb = subparsers.add_parser(
        "tensorboard",
        help="runs → TensorBoard event files (export), and event files → runs (import)",
    )
    verbs = tb.add_subparsers(dest="verb", metavar="VERB", required=True)
    export = verbs.add_parser(
        "export",
        help="write runs' metrics and params (as HParams) as event files",
        description="Writes LOGDIR/<experiment>/<run>-<id>/events.out.tfevents.*; exporting "
        "again appends only new points. Then: tensorboard --logdir LOGDIR",
    )
    export.add_argument("-e", "--experiment", action="append", help="only this experiment")
    export.add_argument("-o", "--output", required=True, metavar="LOGDIR", help="folder to write")
    export.add_argument(
        "--live", action="store_true", help="keep following running runs until Ctrl-C"
    )
    export.set_defaults(handler=_export)
    imp = verbs.add_parser(
        "import",
        help="turn TensorBoard logs (scalars, hparams, text) into runs",
        description="Each folder with event files becomes a run; importing again adds only "
        "what is new. Needs the tensorboard package.",
    )
    imp.add_argument("logdir", help="the folder you give to tensorboard --logdir")
    imp.add_argument("-e", "--experiment", help="experiment (default: the folder's name)")
    imp.set_defaults(handler=_import)


def _use_store(args: argparse.Namespace) -> None:
    if getattr(args, "store", None):
        from jupyter_mlops.store import set_tracking_uri

        set_tracking_uri(args.store)


def _export(args: argparse.Namespace) -> int:
    from jupyter_mlops.tensorboard.export import export_runs

    _use_store(args)
    print(f"exported {export_runs(args.output, args.experiment)}")
    if args.live:
        from jupyter_mlops.tensorboard.live import live_export

        exporter = live_export(args.output, args.experiment)
        print(f"following running runs into {exporter.logdir} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(1)
        finally:
            exporter.stop()
    return 0


def _import(args: argparse.Namespace) -> int:
    from jupyter_mlops.tensorboard.importer import import_logdir

    _use_store(args)
    print(f"imported {import_logdir(args.logdir, args.experiment)}")
    return 0
