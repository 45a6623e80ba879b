"""Fixtures for tests that use the tracking API: a fresh store folder per test."""

from __future__ import annotations

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.store import set_tracking_uri
from jupyter_mlops.tracking import fluent


@pytest.fixture
def tracking_store(tmp_path, monkeypatch):
    """Point every process of the test (this one and children) at a new store folder."""
    folder = str(tmp_path / "store")
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", folder)
    monkeypatch.delenv("JUPYTER_MLOPS_EXPERIMENT", raising=False)
    set_tracking_uri(folder)
    fluent._tracker.experiment = None
    yield folder
    while mlops.active_run() is not None:
        mlops.end_run()
    fluent._tracker.flush()
    set_tracking_uri(None)
