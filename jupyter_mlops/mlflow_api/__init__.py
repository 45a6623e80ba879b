"""An MLflow-compatible REST API over whatever store is configured (docs/mlflow-server.md).

Code that speaks MLflow (``mlflow.start_run``, ``log_metric``, ``search_runs``, ``log_model``,
``register_model``, ``pyfunc.load_model``) runs against our store with
``MLFLOW_TRACKING_URI`` pointing at ``jupyter mlops server`` or at the Jupyter server's
``/jupyter-mlops/mlflow`` (with ``MLFLOW_TRACKING_TOKEN`` set to Jupyter's token). What it logs is
ours: the panels and the side bar show it.

- :mod:`.api`: requests, replies, MLflow's error codes, the route table;
- :mod:`.tracking`, :mod:`.registry`, :mod:`.artifacts`, :mod:`.logged_models`: the routes;
- :mod:`.dispatch`: one request to one reply; :mod:`.server`: the HTTP servers.
"""
