"""The comparison panel (``%mlops_compare``, and *Compare selected* in the runs panel).

Shows a param diff with an "only differences" toggle, the best run per metric (direction chosen
per metric, guessed from the name), last/min/max per run, metric-over-step overlays, parallel
coordinates and a scatter of any two columns; fit flags and system metrics when the runs have
them (:mod:`jupyter_mlops.jupyter.panels_training`). While a shown run is RUNNING, a background
thread redraws it every ``interval`` seconds and stops when every run has ended or the panel is
closed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.jupyter import panels_training as training
from jupyter_mlops.jupyter.panels import (
    CSS,
    LiveRefresher,
    StaticFallback,
    error_line,
    esc,
    format_cell,
    heading,
    html_table,
)
from jupyter_mlops.viz import charts, compare

MAX_CHARTS = 12
LIVE_INTERVAL_S = 2.0
PARALLEL_PARAMS = 6
PARALLEL_METRICS = 4
CHARTS = {"history": "Metric history", "parallel": "Parallel coordinates", "scatter": "Scatter"}


class ComparePanel(StaticFallback, widgets.VBox):
    """Runs side by side: param diff, best runs, metric summaries and charts.

    Parameters
    ----------
    run_ids : iterable of str
        Run ids (or unique id prefixes, or unique run names), from any experiments.
    metrics : list of str, optional
        The metrics to chart (default: every metric of the runs, at most 12).
    live : bool
        Redraw every ``interval`` seconds while a run is RUNNING.
    interval : float
        Seconds between live redraws.

    Raises
    ------
    NotFound
        A run does not exist.
    InvalidInput
        No run was given, or a name matches several runs.
    """

    def __init__(
        self,
        run_ids: Iterable[str],
        metrics: Sequence[str] | None = None,
        *,
        live: bool = True,
        interval: float = LIVE_INTERVAL_S,
    ):
        self._runs = compare.load_runs(run_ids)
        self._fixed_metrics = list(metrics) if metrics else None
        self._lock = threading.RLock()
        self._svgs: dict[str, str] = {}
        self._histories: dict[str, Any] = {}
        self._system: dict[str, Any] = {}  # system metrics' histories, per run
        self._flags: dict[str, Any] = {}  # fit flags, per run
        self._closed = self._quiet = False
        self.refresher: LiveRefresher | None = None
        self._build()
        super().__init__(children=self._layout(), layout=widgets.Layout(width="100%"))
        self.add_class("jp-mlops-panel")
        self._wire()
        self._update()
        if live and self.running:
            self.refresher = LiveRefresher(self._tick, interval)
        self._show_status()

    # -- widgets -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.title_html = widgets.HTML()
        self.status_html = widgets.HTML()
        self.diff_toggle = widgets.ToggleButton(
            value=False, description="Only differences", icon="filter", tooltip="Hide equal params"
        )
        self.diff_html = widgets.HTML()
        self.best_box = widgets.VBox()
        self.direction_dropdowns: dict[str, widgets.Dropdown] = {}
        self._best_rows: dict[str, widgets.HBox] = {}
        self.summary_html = widgets.HTML()
        self.history_image = _image()
        self.parallel_image = _image()
        self.scatter_x = widgets.Dropdown(description="x")
        self.scatter_y = widgets.Dropdown(description="y")
        self.scatter_image = _image()
        self.fit_html = widgets.HTML()
        self.system_html = widgets.HTML()
        self.system_image = _image()

    def _layout(self) -> list[widgets.Widget]:
        section = widgets.HTML
        return [
            self.title_html,
            self.status_html,
            section(heading("Parameters")),
            self.diff_toggle,
            self.diff_html,
            section(heading("Best run per metric")),
            self.best_box,
            section(heading("Metrics (last / min / max)")),
            self.summary_html,
            self.fit_html,
            section(heading("Metric history")),
            self.history_image,
            section(heading("Parallel coordinates")),
            self.parallel_image,
            section(heading("Scatter")),
            widgets.HBox([self.scatter_x, self.scatter_y]),
            self.scatter_image,
            self.system_html,
            self.system_image,
        ]

    def _wire(self) -> None:
        self.diff_toggle.observe(lambda _: self._locked(self._render_diff), names="value")
        self.scatter_x.observe(lambda _: self._locked(self._render_scatter), names="value")
        self.scatter_y.observe(lambda _: self._locked(self._render_scatter), names="value")

    def _locked(self, render: Any) -> None:
        if self._quiet:
            return
        with self._lock:
            render()

    # -- state ---------------------------------------------------------------------------------
    @property
    def runs(self) -> list[dict[str, Any]]:
        """The run documents shown, as last read."""
        return list(self._runs)

    @property
    def metrics(self) -> list[str]:
        """The metrics charted."""
        if self._fixed_metrics is not None:
            return list(self._fixed_metrics)
        return training.training_metrics(compare.metric_keys(self._runs))[:MAX_CHARTS]

    @property
    def running(self) -> bool:
        """Whether any shown run is RUNNING."""
        return any(run.get("status") == "RUNNING" for run in self._runs)

    @property
    def directions(self) -> dict[str, str]:
        """``{metric: "max" | "min"}`` as chosen in the panel."""
        return {metric: self.direction_dropdowns[metric].value for metric in self.metrics}

    def best(self) -> Any:
        """The best run per metric (see :func:`jupyter_mlops.viz.compare.best_runs`)."""
        return compare.best_runs(self._runs, self.metrics, self.directions)

    def param_diff(self) -> Any:
        """The param diff as shown (honours the "only differences" toggle)."""
        return compare.param_diff(self._runs, only_differences=self.diff_toggle.value)

    def to_dataframe(self) -> Any:
        """A row per run: ``duration_s``, ``params.*`` and ``metrics.*`` (last values)."""
        return compare.comparison_frame(self._runs)

    # -- rendering -----------------------------------------------------------------------------
    def _update(self, changed: set[str] | None = None) -> None:
        """Read the histories of the ``changed`` runs (default: all) and redraw everything."""
        with self._lock:
            stale = [run for run in self._runs if changed is None or run["run_id"] in changed]
            self._histories.update(compare.load_histories(stale, self.metrics))
            self._labels = compare.run_labels(self._runs)
            self._frame = compare.comparison_frame(self._runs)
            self.title_html.value = self._title()
            self._sync_directions()
            self._scatter_options()
            self._render_diff()
            self._render_best()
            self._render_parallel()
            self._render_scatter()
            self._render_training(stale)

    def _render_training(self, stale: list[dict[str, Any]]) -> None:
        """The Fit and System metrics sections, re-read for the ``stale`` runs."""
        from jupyter_mlops.viz.fit_diagnosis import diagnose_runs

        self._flags.update(diagnose_runs(stale))
        self.fit_html.value = CSS + training.fit_html(self._runs, self._labels, self._flags)
        keys = training.system_keys(self._runs)
        self._system.update(compare.load_histories(stale, keys))
        self.system_html.value = CSS + training.system_table(self._runs, self._labels, self._system)
        figure = training.system_figure(self._runs, self._labels, self._system)
        if figure is not None:
            self._show("system", self.system_image, figure)

    def _title(self) -> str:
        experiments = sorted({str(run.get("experiment", "")) for run in self._runs})
        where = ", ".join(esc(name) for name in experiments)
        count = len(self._runs)
        return f"<b>Comparing {count} run{'s' * (count != 1)}</b> from {where}"

    def _render_diff(self) -> None:
        diff = self.param_diff()
        self.diff_html.value = CSS + _diff_table(diff, self._runs)

    def _sync_directions(self) -> None:
        """A row (name, direction dropdown, best run) per metric, new metrics included."""
        for metric in self.metrics:
            if metric not in self.direction_dropdowns:
                self.direction_dropdowns[metric] = dropdown = widgets.Dropdown(
                    options=["max", "min"],
                    value=compare.guess_direction(metric),
                    layout=widgets.Layout(width="80px"),
                )
                dropdown.observe(lambda _: self._locked(self._render_best), names="value")
                name = widgets.HTML(f"<code>{esc(metric)}</code>")
                name.layout.width = "220px"
                self._best_rows[metric] = widgets.HBox([name, dropdown, widgets.HTML()])
        rows = tuple(self._best_rows[metric] for metric in self.metrics)
        if self.best_box.children != rows:
            self.best_box.children = rows

    def _render_best(self) -> None:
        best = self.best()
        for metric in self.metrics:
            self._best_rows[metric].children[2].value = _best_text(best.loc[metric])
        self.summary_html.value = CSS + _summary_table(self._runs, self.metrics, best)
        self._render_history(best)

    def _render_history(self, best: Any) -> None:
        histories = {
            self._labels[run["run_id"]]: self._histories.get(run["run_id"], {})
            for run in self._runs
        }
        winners = {metric: best.loc[metric, "run"] for metric in best.index}
        figure = charts.metric_history_figure(histories, self.metrics, best=winners)
        self._show("history", self.history_image, figure)

    def _render_parallel(self) -> None:
        figure = charts.parallel_coordinates_figure(self._frame, self._parallel_columns())
        self._show("parallel", self.parallel_image, figure)

    def _parallel_columns(self) -> list[str]:
        diff = compare.param_diff(self._runs, only_differences=len(self._runs) > 1)
        params = [f"params.{key}" for key in diff.index[:PARALLEL_PARAMS]]
        metrics = [f"metrics.{key}" for key in self.metrics[:PARALLEL_METRICS]]
        return params + metrics

    def _scatter_options(self) -> None:
        columns = [c for c in self._frame.columns if c.startswith(("params.", "metrics."))]
        columns.sort(key=lambda c: c.startswith("metrics.system/"))  # last: never a default
        columns.append("duration_s")
        if list(self.scatter_x.options) == columns:
            return
        x_default, y_default = _scatter_defaults(self._parallel_columns(), columns)
        self._quiet = True  # _update draws the scatter once the options are in place
        try:
            for dropdown, default in ((self.scatter_x, x_default), (self.scatter_y, y_default)):
                current = dropdown.value
                dropdown.options = columns
                dropdown.value = current if current in columns else default
        finally:
            self._quiet = False

    def _render_scatter(self) -> None:
        x, y = self.scatter_x.value, self.scatter_y.value
        if x is None or y is None:
            return
        self._show("scatter", self.scatter_image, charts.scatter_figure(self._frame, x, y))

    def _show(self, key: str, chart: widgets.HTML, figure: Any) -> None:
        from jupyter_mlops.viz.theme import figure_to_svg

        svg = figure_to_svg(figure)  # themed: follows JupyterLab's light and dark themes
        self._svgs[key] = svg
        chart.value = svg

    # -- live ----------------------------------------------------------------------------------
    def _tick(self) -> bool:
        """One live refresh; False when the thread should stop."""
        if self._closed:
            return False
        try:
            with self._lock:
                before = {run["run_id"]: _state(run) for run in self._runs}
                self._runs = compare.reload_runs(self._runs)
                changed = {r["run_id"] for r in self._runs if _state(r) != before[r["run_id"]]}
                if changed:  # the final points of a run that just ended are read here too
                    self._update(changed)
        except Exception as e:  # a live view must never take the kernel down
            self.status_html.value = error_line(f"Live refresh stopped: {e}")
            return False
        self._show_status()
        return self.running and not self._closed

    def _show_status(self) -> None:
        running = [self._labels[r["run_id"]] for r in self._runs if r.get("status") == "RUNNING"]
        if self.refresher is not None and running and not self._closed:
            names = ", ".join(esc(name) for name in running[:3])
            every = f"{self.refresher.interval:g}"
            verb = "is" if len(running) == 1 else "are"
            text = f"&#9679; live: redrawing every {every} s while {names} {verb} running"
        elif self.refresher is not None:
            text = "live view ended: every run has finished"
        else:
            text = ""
        self.status_html.value = f'<span class="jp-mlops-note">{text}</span>' if text else ""

    def close(self) -> None:
        """Stop the live thread and close the widgets."""
        self._closed = True
        refresher = getattr(self, "refresher", None)  # None when __init__ failed half way
        if refresher is not None:
            refresher.stop(timeout=5)
        super().close()

    # -- static fallback -----------------------------------------------------------------------
    def static_html(self) -> str:
        """Tables and charts (themed inline SVG) for viewers without widgets."""
        with self._lock:
            best = self.best()
            parts = [
                f'<div class="jp-mlops-panel">{CSS}<div>{self._title()}</div>',
                heading("Parameters"),
                _diff_table(self.param_diff(), self._runs),
                heading("Best run per metric"),
                _best_table(best),
                heading("Metrics (last / min / max)"),
                _summary_table(self._runs, self.metrics, best),
                training.fit_html(self._runs, self._labels, self._flags),
            ]
            for key, title in CHARTS.items():
                parts += [heading(title), self._svgs.get(key, "")]
            parts += [training.system_table(self._runs, self._labels, self._system)]
            parts += [self._svgs.get("system", "")]
        return "".join(parts) + "</div>"

    def __repr__(self) -> str:
        """A one-line description (the text/plain fallback)."""
        return f"<ComparePanel: {len(self._runs)} runs, metrics {', '.join(self.metrics[:5])}>"


def _state(run: dict[str, Any]) -> tuple[Any, ...]:
    """What a live refresh compares: status, metric summaries and params."""
    return (run.get("status"), run.get("metrics"), run.get("params"))


def _image() -> widgets.HTML:
    """A chart: themed inline SVG as wide as the output (up to 1.3 times its natural width)."""
    return widgets.HTML(layout=widgets.Layout(width="100%"))


def _rows(frame: Any) -> list[list[Any]]:
    """The frame's rows as lists, ``None`` kept (``iterrows`` would turn it into NaN)."""
    return frame.to_numpy(dtype=object).tolist()


def _scatter_defaults(parallel: list[str], columns: list[str]) -> tuple[str | None, str | None]:
    params = [c for c in parallel if c.startswith("params.")]
    metrics = [c for c in columns if c.startswith("metrics.")]
    metrics.sort(key=lambda c: not any(w in c for w in ("val", "test")))  # held-out data first
    x = params[0] if params else (columns[0] if columns else None)
    y = metrics[0] if metrics else (columns[-1] if columns else None)
    return x, y


def _best_text(entry: Any) -> str:
    if not isinstance(entry["run_id"], str):  # no run has a numeric value
        return '<span class="jp-mlops-missing">no numeric value</span>'
    return f"&#9733; <b>{esc(entry['run'])}</b> &middot; {format_cell(entry['value'])}"


def _best_table(best: Any) -> str:
    head = ["<th>metric</th>", "<th>direction</th>", "<th>best run</th>"]
    rows = [
        [
            f"<td>{esc(metric)}</td>",
            f"<td>{esc(entry['direction'])}</td>",
            f"<td>{_best_text(entry)}</td>",
        ]
        for metric, entry in best.iterrows()
    ]
    return html_table(head, rows)


def _run_headers(runs: Sequence[dict[str, Any]]) -> list[str]:
    labels = compare.run_labels(runs)
    return [
        f'<th title="{esc(run["run_id"])}">{format_cell(labels[run["run_id"]], 32)}</th>'
        for run in runs
    ]


def _diff_table(diff: Any, runs: Sequence[dict[str, Any]]) -> str:
    head = ["<th>param</th>", *_run_headers(runs)]
    differs = compare.differing_rows(diff) if len(diff) else []
    rows = []
    for key, row, changed in zip(diff.index, _rows(diff), differs, strict=True):
        mark = ' class="jp-mlops-differs"' if changed else ""
        rows.append([f"<th{mark}>{esc(key)}</th>", *(f"<td>{format_cell(v)}</td>" for v in row)])
    if not rows:
        rows = [[f'<td colspan="{len(head)}">No params differ.</td>']]
    return html_table(head, rows)


def _summary_table(runs: Sequence[dict[str, Any]], metrics: Sequence[str], best: Any) -> str:
    summary = compare.metric_summary(runs, metrics)
    winners = {metric: best.loc[metric, "run_id"] for metric in best.index}
    head = ["<th>metric</th>", "<th></th>", *_run_headers(runs)]
    rows = []
    for (metric, stat), row in zip(summary.index, _rows(summary), strict=True):
        cells = [f"<th>{esc(metric) if stat == 'last' else ''}</th>", f"<td>{stat}</td>"]
        for run, value in zip(runs, row, strict=True):
            top = stat == "last" and winners.get(metric) == run["run_id"]
            cls = "jp-mlops-num jp-mlops-best" if top else "jp-mlops-num"
            cells.append(f'<td class="{cls}">{"&#9733; " if top else ""}{format_cell(value)}</td>')
        rows.append(cells)
    if not rows:
        rows = [[f'<td colspan="{len(head)}">No metrics logged.</td>']]
    return html_table(head, rows)
