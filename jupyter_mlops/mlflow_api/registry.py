"""MLflow's model registry routes: registered models, versions, aliases, download URIs."""
