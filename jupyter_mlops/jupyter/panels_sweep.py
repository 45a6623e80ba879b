"""The sweep panel: best so far, history, parallel coordinates, importances, the trials.

A thin adapter over :mod:`jupyter_mlops.sweeps.views` (the data, read from the store) and
:mod:`jupyter_mlops.sweeps.charts` (PNG charts). While a sweep runs, the magic calls
:meth:`SweepPanel.refresh` between trials (or every poll, with ``--jobs``); redraws are
throttled so a fast sweep does not spend its time drawing. Selected trials open the compare
panel. The static fallback holds the summary, the trial table and the charts as PNGs.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.jupyter.panels import (
    CSS,
    StaticFallback,
    error_line,
    esc,
    format_cell,
    format_duration,
    html_table,
    png_img,
)

TABLE_S = 0.5
CHARTS_S = 2.0
"""Least time between two redraws of the table and of the charts while a sweep runs."""
MAX_ROWS = 200
STATE_MARK = {"complete": "✓", "pruned": "✂", "failed": "✗", "interrupted": "■", "running": "●"}


class SweepPanel(StaticFallback, widgets.VBox):
    """A sweep's live view in the notebook (``%%mlops_sweep`` shows it)."""

    def __init__(self, name: str, experiment: str | None = None, *, live: bool = False):
        self.name, self.experiment = name, experiment
        self.view: Any = None
        self.pngs: dict[str, bytes] = {}
        self._drawn = {"table": 0.0, "charts": 0.0}
        self._live = live
        self.header = widgets.HTML()
        self.images = {
            k: widgets.Image(format="png") for k in ("history", "parallel", "importance")
        }
        self.table = widgets.HTML()
        self.picker = widgets.SelectMultiple(rows=6, description="Trials", layout={"width": "60%"})
        self.compare_button = widgets.Button(description="Compare", icon="columns")
        self.compare_out = widgets.Output()
        self.compared: Any = None
        tabs = widgets.Tab(children=[*self._chart_boxes(), self._trials_box()])
        for i, title in enumerate(("History", "Parallel coordinates", "Importances", "Trials")):
            tabs.set_title(i, title)
        super().__init__(children=[widgets.HTML(CSS), self.header, tabs])
        self.add_class("jp-mlops-panel")
        self.compare_button.on_click(lambda _: self.compare())
        self.refresh(force=True)

    def _chart_boxes(self) -> list[widgets.Widget]:
        return [widgets.Box([self.images[k]]) for k in ("history", "parallel", "importance")]

    def _trials_box(self) -> widgets.Widget:
        controls = widgets.HBox([self.picker, self.compare_button])
        return widgets.VBox([self.table, controls, self.compare_out])

    # -- updates -----------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Read the sweep again and redraw what is due (never raises into the sweep)."""
        now = time.monotonic()
        if not force and now - self._drawn["table"] < TABLE_S:
            return
        try:
            self._load(charts=force or now - self._drawn["charts"] >= CHARTS_S)
        except Exception as e:  # the sweep goes on whatever the panel hits
            self.header.value = error_line(f"The sweep panel could not refresh: {e}")

    def finish(self) -> None:
        """The last redraw, once the sweep has stopped."""
        self._live = False
        self.refresh(force=True)

    def _load(self, charts: bool) -> None:
        from jupyter_mlops.errors import NotFound
        from jupyter_mlops.sweeps.views import load_sweep

        try:
            self.view = load_sweep(self.name, self.experiment, importances=charts)
        except NotFound:
            self.header.value = _note_html(f"sweep {self.name}: starting…")
            return
        self._drawn["table"] = time.monotonic()
        self.header.value = header_html(self.view, self._live)
        self.table.value = trials_html(self.view)
        self._update_picker()
        if charts:
            self._draw_charts()
            self._drawn["charts"] = time.monotonic()

    def _draw_charts(self) -> None:
        from jupyter_mlops.sweeps import charts

        figures = {
            "history": charts.history_figure,
            "parallel": charts.parallel_figure,
            "importance": charts.importance_figure,
        }
        for key, draw in figures.items():
            self.pngs[key] = charts.figure_to_png(draw(self.view))
            self.images[key].value = self.pngs[key]

    def _update_picker(self) -> None:
        ranked = ranked_trials(self.view)
        options = [(f"#{t.number} {t.state} {format_cell(t.value)}", t.run_id) for t in ranked]
        if [o[1] for o in options] != [o[1] for o in self.picker.options]:
            chosen = self.picker.value or tuple(o[1] for o in options[:3])
            self.picker.options = options
            known = {run_id for _, run_id in options}
            self.picker.value = tuple(v for v in chosen if v in known)

    def compare(self) -> None:
        """Open the compare panel for the selected trials."""
        from IPython.display import display

        from jupyter_mlops.jupyter.panels_compare import ComparePanel

        self.compare_out.clear_output()
        with self.compare_out:
            runs = list(self.picker.value)
            if not runs:
                print("Select trials to compare first.")
                return
            metric = [self.view.metric] if self.view is not None else None
            self.compared = ComparePanel(runs, metrics=metric, live=False)
            display(self.compared)

    # -- static fallback ---------------------------------------------------------------------
    def static_html(self) -> str:
        """Summary, trial table and the charts as embedded PNGs."""
        if self.view is None:
            return CSS + _note_html(f"sweep {self.name}: no trials yet")
        charts = "".join(png_img(self.pngs.get(k), k) for k in self.images)
        return (
            CSS + '<div class="jp-mlops-panel">' + header_html(self.view, False) + charts
            + trials_html(self.view) + "</div>"
        )  # fmt: skip


# -- HTML (shared with tests: what a user reads) ---------------------------------------------------
def header_html(view: Any, live: bool) -> str:
    """The sweep's one-glance summary: state, counts, best so far, the overfitting flags."""
    counts = " · ".join(f"{n} {k}" for k, n in view.counts().items())
    budget = f" of {view.budget}" if view.budget else ""
    state = "running" if live else view.state
    parts = [
        f'<div class="jp-mlops-heading">Sweep {esc(view.name)} · {esc(view.experiment)} · '
        f"{esc(state)}</div>",
        f'<div class="jp-mlops-note">{len(view.trials)}{budget} trials: {esc(counts or "none")}'
        f" · {esc(view.direction)} {esc(view.metric)}</div>",
    ]
    best = view.best
    if best is not None:
        params = ", ".join(f"{esc(k)}={format_cell(_num(v))}" for k, v in best.params.items())
        parts.append(
            f'<div class="jp-mlops-best">Best so far: <b>{esc(view.metric)} = '
            f"{format_cell(best.value)}</b> (trial {best.number}: {params})</div>"
        )
    flagged = [t for t in view.trials if t.overfit]
    if flagged:
        numbers = ", ".join(str(t.number) for t in flagged[:10])
        parts.append(
            f'<div class="jp-mlops-error">⚠ overfitting: validation worsened while training '
            f"improved in trial(s) {numbers}</div>"
        )
    return "".join(parts)


def trials_html(view: Any) -> str:
    """The trials, best first: state, value, params, train/validation gap, flag, duration."""
    names = list(view.space)
    pair = view.pair
    head = ["<th>#</th>", "<th>state</th>", f"<th>{esc(view.metric)}</th>"]
    head += [f"<th>{esc(n)}</th>" for n in names]
    if pair is not None:
        head.append(f'<th title="{esc(pair.validation)} vs {esc(pair.train)}">gap</th>')
    head += ["<th>duration</th>", "<th>note</th>"]
    rows = []
    best = view.best
    for t in ranked_trials(view)[:MAX_ROWS]:
        mark = "jp-mlops-num jp-mlops-best" if best is not None and t is best else "jp-mlops-num"
        row = [
            f'<td class="jp-mlops-num">{t.number}</td>',
            f"<td>{STATE_MARK.get(t.state, '')} {esc(t.state)}</td>",
            f'<td class="{mark}">{format_cell(t.value)}</td>',
        ]
        row += [f"<td>{format_cell(_num(t.params.get(n)))}</td>" for n in names]
        if pair is not None:
            row.append(f'<td class="jp-mlops-num">{format_cell(t.gap)}</td>')
        note = ("⚠ " + t.overfit) if t.overfit else t.error
        row += [
            f"<td>{esc(format_duration(t.duration_s))}</td>",
            f"<td>{format_cell(note, 80)}</td>",
        ]
        rows.append(row)
    return html_table(head, rows)


def ranked_trials(view: Any) -> list[Any]:
    """Complete trials best first, then the others newest first."""
    done = [t for t in view.trials if t.state == "complete" and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=view.direction == "maximize")
    rest = sorted((t for t in view.trials if t not in done), key=lambda t: -t.number)
    return done + rest


def _num(value: Any) -> Any:
    """A param as stored (text) back to a number when it is one, so it prints short."""
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            continue
    return value


def _note_html(text: str) -> str:
    return f'<div class="jp-mlops-note">{esc(text)}</div>'
