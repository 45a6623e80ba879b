"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models``): what ``log_model`` needs."""
