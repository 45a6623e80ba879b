"""Helpers for the magics and autolog tests.

The ``store_dir`` and ``shell`` fixtures live in ``fixtures_store.py``, a plugin every test gets.
"""

from __future__ import annotations

from jupyter_mlops.jupyter import magics
from jupyter_mlops.store import get_store
from jupyter_mlops.tracking import context, fluent
from jupyter_mlops.tracking.session import session


def tracking_magics(ip) -> magics.TrackingMagics:
    """The magics instance registered on ``ip``."""
    return magics._loaded[id(ip)][0]


def runs() -> list[fluent.Run]:
    """Every run of the store, in the order they were created, captures written."""
    context.wait_for_captures(60)
    session().flush()
    return [fluent.get_run(doc["run_id"]) for doc in get_store().list_runs()]


def top_runs() -> list[fluent.Run]:
    """Runs without a parent, oldest first."""
    return [r for r in runs() if r.parent_run_id is None]
