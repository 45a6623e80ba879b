"""An MLflow-compatible REST API over whatever store is configured.

Stock MLflow clients (``mlflow.log_metric``, ``mlflow.search_runs``, ``log_model``,
``pyfunc.load_model``, Optuna's and Lightning's MLflow callbacks) talk to jupyter_mlops as they
would to ``mlflow server``: ``MLFLOW_TRACKING_URI=http://127.0.0.1:8888/jupyter-mlops/mlflow``
(behind Jupyter's auth, ``MLFLOW_TRACKING_TOKEN``) or ``jupyter mlops server`` (standalone).

:mod:`.routes` is the one dispatcher, free of any web framework: a :class:`~.routes.Request`
in, a :class:`~.routes.Response` out. Each area registers its routes with
:func:`~.routes.route` in a module of its own (tracking, registry, artifacts, logged models);
:mod:`.server` and :mod:`jupyter_mlops.jupyter.server` are the two thin HTTP adapters.
"""
