"""Every module that registers MLflow API routes; :mod:`.routes` imports this once."""

from jupyter_mlops.mlflow_api import (  # noqa: F401 - each registers its routes on import
    artifacts,
    logged_models,
    registry,
    tracking,
)
