"""``jupyter mlops store check|repair``: the command line of the store's check and repair.

A thin adapter over :mod:`~jupyter_mlops.store.check` and :mod:`~jupyter_mlops.store.repair`,
hooked into ``jupyter_mlops.cli``.
"""

from __future__ import annotations

import argparse
from typing import Any

from jupyter_mlops.errors import InvalidInput


def add_commands(sub: Any) -> None:
    """Add ``store`` with its ``check`` and ``repair`` actions to the CLI's subparsers."""
    store = sub.add_parser(
        "store",
        help="check or repair an embedded store folder",
        description="Check (read-only) or repair the embedded store. LOCATION defaults to "
        "--store, $JUPYTER_MLOPS_STORE or ~/.jupyter_mlops.",
    )
    actions = store.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="read everything; exit code 1 when something is damaged or inconsistent",
        description="Read FORMAT, the snapshot, every journal line, every metric log against "
        "its run's summaries, every record stream and every artifact against its sha256, and "
        "list what nothing refers to. Never writes.",
    )
    check.add_argument("location", nargs="?", help="the store folder")
    check.add_argument(
        "--no-hashes", action="store_true", help="do not re-hash artifact files (faster)"
    )
    check.set_defaults(handler=_check)
    repair = actions.add_parser(
        "repair",
        help="keep everything readable, move the rest to quarantine/, report what was lost",
        description="Rebuild the store from everything that can be read, under the store's "
        "lock. Unreadable files are kept in LOCATION/quarantine/<time>/ with a REPORT.txt.",
    )
    repair.add_argument("location", nargs="?", help="the store folder")
    repair.set_defaults(handler=_repair)


def _folder(args: argparse.Namespace) -> str:
    from jupyter_mlops.store import get_tracking_uri, set_tracking_uri

    if args.location:
        set_tracking_uri(args.location)
    elif args.store:
        set_tracking_uri(args.store)
    location = get_tracking_uri()
    if location.startswith(("memory:", "mlflow+")):
        raise InvalidInput(
            f"`jupyter mlops store {args.action}` works on an embedded store folder, not "
            f"{location}."
        )
    return location


def _check(args: argparse.Namespace) -> int:
    from jupyter_mlops.store.check import check_store

    report = check_store(_folder(args), hashes=not args.no_hashes)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _repair(args: argparse.Namespace) -> int:
    from jupyter_mlops.store.repair import repair_store

    print("\n".join(repair_store(_folder(args)).lines()))
    return 0
