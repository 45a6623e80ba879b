"""Model evaluation: one metric table, reports with slices, baselines, thresholds and plots.

:mod:`.metrics` defines every metric once (autolog, the promotion gate and monitoring all use
it); :mod:`.core` holds :func:`~.core.evaluate`; :mod:`.production` compares a test set with a
deployment's recent traffic. Nothing here imports Jupyter.
"""
