"""Fixtures for the magics and autolog tests: a real in-process IPython shell and a fresh store.

Test modules pick them up with ``store_dir = magic_fixtures.store_dir`` (conftest.py is shared).
"""

from __future__ import annotations

import pytest
from IPython.core.getipython import get_ipython
from IPython.testing.globalipapp import start_ipython

import jupyter_mlops as mlops
from jupyter_mlops.jupyter import magics
from jupyter_mlops.store import set_tracking_uri
from jupyter_mlops.tracking import context, fluent


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """A new store folder for this test; the working folder is outside any git repository."""
    folder = tmp_path / "store"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(folder))
    for var in ("JUPYTER_MLOPS_EXPERIMENT", "JUPYTER_MLOPS_NOTEBOOK", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(work)
    set_tracking_uri(str(folder))
    fluent._tracker.experiment = None
    yield folder
    while mlops.active_run() is not None:
        mlops.end_run()
    assert context.wait_for_captures(60)
    fluent._tracker.flush()
    set_tracking_uri(None)


@pytest.fixture
def shell(store_dir):
    """The global test IPython shell with ``%load_ext jupyter_mlops`` done (undone after)."""
    start_ipython()  # once per process; later calls return None
    ip = get_ipython()
    magics.load(ip)
    yield ip
    magics.unload(ip)
    ip.user_ns.pop("__vsc_ipynb_file__", None)


def tracking_magics(ip) -> magics.TrackingMagics:
    """The magics instance registered on ``ip``."""
    return magics._loaded[id(ip)][0]


def runs() -> list[fluent.Run]:
    """Every run of the store, in the order they were created, captures written."""
    context.wait_for_captures(60)
    fluent._tracker.flush()
    return [fluent.get_run(doc["run_id"]) for doc in fluent._tracker.store().list_runs()]


def top_runs() -> list[fluent.Run]:
    """Runs without a parent, oldest first."""
    return [r for r in runs() if r.parent_run_id is None]
