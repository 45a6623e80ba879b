"""Fixtures shared by every test that touches a store: a fresh store folder, an IPython shell."""

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
    """A new store folder for this process and its children (working folder outside git)."""
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
def tracking_store(store_dir):
    """The store folder as a string (for tests of the Python API)."""
    return str(store_dir)


@pytest.fixture
def shell(store_dir):
    """The global test IPython shell with ``%load_ext jupyter_mlops`` done (undone after)."""
    start_ipython()  # once per process; later calls return None
    ip = get_ipython()
    magics.load(ip)
    yield ip
    magics.unload(ip)
    ip.user_ns.pop("__vsc_ipynb_file__", None)
