"""Charts and comparison logic for runs: plain Python, no IPython and no ipywidgets.

- :mod:`jupyter_mlops.viz.compare` turns run documents into DataFrames: the param diff, metric
  summaries (last, min, max), the best run per metric, the runs table of the runs panel.
- :mod:`jupyter_mlops.viz.charts` draws them with matplotlib's Agg backend on
  :class:`matplotlib.figure.Figure` objects (no pyplot state, so it is thread-safe and never opens
  a window): metric-over-step overlays, parallel coordinates and scatter plots.

The notebook panels (:mod:`jupyter_mlops.jupyter.panels`) are thin adapters over these two
modules; nothing is imported here, so ``import jupyter_mlops.viz`` stays free.
"""
