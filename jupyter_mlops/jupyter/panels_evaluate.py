"""The evaluation report panel (``%mlops_evaluate``).

Tabs of metrics, thresholds, slices, fit and plots, with the report's static HTML as fallback
(nbconvert, GitHub, VS Code).

The sections are :mod:`jupyter_mlops.evaluation.html`'s, the plots the theme-aware SVG of
:mod:`jupyter_mlops.evaluation.plots` (the run page's and compare panel's way of drawing).
"""

from __future__ import annotations

import ipywidgets as widgets

from jupyter_mlops.evaluation import html as sections
from jupyter_mlops.evaluation.plots import svgs
from jupyter_mlops.evaluation.report import EvaluationReport
from jupyter_mlops.jupyter.panels import StaticFallback

TABS = ("Metrics", "Thresholds", "Slices", "Fit", "Plots")


class EvaluationPanel(StaticFallback, widgets.VBox):
    """One evaluation report.

    Parameters
    ----------
    report : EvaluationReport
    """

    def __init__(self, report: EvaluationReport):
        super().__init__()
        self.report = report
        self._svgs = svgs(report.plot_data)
        pages = [
            sections.metrics_html(report) + sections.production_html(report),
            sections.thresholds_html(report),
            sections.slices_html(report),
            sections.fit_html(report),
            sections.plots_html(self._svgs),
        ]
        tabs = widgets.Tab(children=[widgets.HTML(sections.style() + page) for page in pages])
        for i, title in enumerate(TABS):
            tabs.set_title(i, title)
        self.children = [widgets.HTML(sections.style() + sections.title_html(report)), tabs]

    def static_html(self) -> str:
        """Every section and the plots, as self-contained HTML."""
        return sections.report_html(self.report, with_plots=False) + sections.plots_html(self._svgs)

    def __repr__(self) -> str:
        return f"<EvaluationPanel {self.report.summary()}>"
