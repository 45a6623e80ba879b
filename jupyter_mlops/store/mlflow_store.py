"""The MLflow backend's old import path: it is the package :mod:`jupyter_mlops.store.mlflow`."""

from jupyter_mlops.store.mlflow import INTERNAL_EXPERIMENT, PREFIX, MlflowStore

__all__ = ["INTERNAL_EXPERIMENT", "PREFIX", "MlflowStore"]
