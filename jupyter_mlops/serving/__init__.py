"""Serving models: the scoring protocol, the model server, deployments, Kubernetes."""
