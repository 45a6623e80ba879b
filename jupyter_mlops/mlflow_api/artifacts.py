"""MLflow's proxied artifact routes (``/api/2.0/mlflow-artifacts/artifacts/...``) over the store."""
