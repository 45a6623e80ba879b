"""Experiment tracking: runs, params, metrics, artifacts, datasets, models, search."""
