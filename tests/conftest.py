"""Shared fixtures."""

import pytest

pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "fixtures_store",
    "mlflow_fixtures",
    "browser_fixtures",
)


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    """A Jupyter server with jupyter_mlops enabled, strict auth, and a store in ``tmp_path``."""
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "mlops-store"))
    return {
        "ServerApp": {
            # Terminals are off: none of our tests need them, and they warn about auth.
            "jpserver_extensions": {"jupyter_mlops": True, "jupyter_server_terminals": False},
            "allow_unauthenticated_access": False,
        }
    }
