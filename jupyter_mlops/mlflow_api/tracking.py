"""MLflow's tracking routes: experiments, runs, params, metrics, tags, log-batch, search."""
