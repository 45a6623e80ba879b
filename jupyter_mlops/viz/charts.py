"""Matplotlib charts for comparing runs: metric overlays, parallel coordinates, scatter.

Every function takes plain data keyed by run label and returns a
:class:`matplotlib.figure.Figure` drawn by the Agg backend. Nothing here touches pyplot, so
charts can be drawn from a background thread (the live panels do) and never open a window.

Values that are missing, NaN, infinite or not numbers never raise: overlays leave a gap,
parallel coordinates put them on a "missing" row below the axes, and scatter plots leave them
out and say how many they left out. Labels are drawn as plain text (a ``$`` in a run name is not
mathtext), and long ones are shortened.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["as_floats", "figure_to_png", "metric_history_figure", "parallel_coordinates_figure",
           "run_styles", "scatter_figure"]  # fmt: skip

History = tuple[Sequence[Any], Sequence[Any]]
"""A metric's history: ``(steps, values)`` of equal length."""

MAX_POINTS = 500  # per line: more points than pixels only slow the drawing down
MISSING_Y = -0.12  # where parallel coordinates put missing values
LEGEND_ROWS = 24  # legend entries per column
_LINESTYLES = ("-", "--", ":")
_RENDER_LOCK = threading.Lock()
_ANNOTATION: dict[str, Any] = {"textcoords": "offset points", "fontsize": 7, "color": "0.2"}
_SMALL: dict[str, Any] = {"fontsize": 7, "color": "0.4"}


# -- data --------------------------------------------------------------------------------------
def as_floats(values: Iterable[Any]) -> np.ndarray:
    """``values`` as a float array; anything that is not a finite number becomes NaN.

    Parameters
    ----------
    values : iterable
        Numbers, numeric strings, ``None``, text...

    Returns
    -------
    numpy.ndarray
        One-dimensional, ``float64``.
    """
    values = list(values)
    try:
        array = np.asarray(values, dtype=float)
        if array.shape != (len(values),):  # nested sequences
            raise ValueError(array.shape)
    except (TypeError, ValueError, OverflowError):
        array = np.array([_to_float(value) for value in values], dtype=float)
    array[~np.isfinite(array)] = np.nan
    return array


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def is_missing(value: Any) -> bool:
    """Whether a cell holds no value: ``None``, a NaN or infinite float, or blank text."""
    if value is None:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, str) and not value.strip()


def _classify(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None]:
    """Numbers for plotting, NaN where missing; text values become category indices.

    Returns the numbers and, for text, the sorted categories (``None`` for numeric data).
    """
    present = [None if is_missing(v) else v for v in values]
    numbers = as_floats(present)
    given = np.array([v is not None for v in present], dtype=bool)
    if not given.any() or np.isfinite(numbers[given]).all():
        return numbers, None
    texts = [None if v is None else str(v) for v in present]
    categories = sorted({t for t in texts if t is not None}, key=_natural_key)
    index = {c: float(i) for i, c in enumerate(categories)}
    return np.array([math.nan if t is None else index[t] for t in texts]), categories


def _natural_key(text: str) -> tuple[int, float, str]:
    number = _to_float(text)
    return (0, number, text) if math.isfinite(number) else (1, 0.0, text.lower())


def _downsample(
    steps: np.ndarray, values: np.ndarray, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` (default :data:`MAX_POINTS`) points: each bucket's lowest and highest.

    Keeping both extremes of every bucket draws the same envelope as the full line (spikes
    included) at a fraction of the cost; a bucket with no number keeps a NaN, so gaps stay.
    """
    size, limit = steps.size, limit or MAX_POINTS
    buckets = limit // 2
    if size <= limit:
        return steps, values
    width = -(-size // buckets)
    padded = np.full(buckets * width, np.nan)
    padded[:size] = values
    grid = padded.reshape(buckets, width)
    missing = np.isnan(grid)
    low = np.argmin(np.where(missing, np.inf, grid), axis=1)
    high = np.argmax(np.where(missing, -np.inf, grid), axis=1)
    base = np.arange(buckets) * width
    keep = np.unique(np.concatenate([base + low, base + high, [0, size - 1]]))
    keep = keep[keep < size]
    return steps[keep], values[keep]


def _series(history: History) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values as floats, ordered by step, cut to the same length."""
    steps, values = (as_floats(part) for part in history)
    size = min(steps.size, values.size)
    steps, values = steps[:size], values[:size]
    if np.isnan(steps).any():  # steps that are not numbers: fall back to the logging order
        steps = np.arange(size, dtype=float)
    order = np.argsort(steps, kind="stable")
    return _downsample(steps[order], values[order])


# -- styling -----------------------------------------------------------------------------------
def run_styles(labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A line style per run: 20 distinct colors, then the same colors dashed, then dotted.

    The colors are matplotlib's ``tab20`` with the dark shades first, so that neighbours in a
    list never get two shades of one hue.
    """
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {
        label: {"color": cmap(order[i % 20]), "linestyle": _LINESTYLES[(i // 20) % 3]}
        for i, label in enumerate(labels)
    }


def label_text(text: Any, limit: int = 40) -> str:
    """``text`` safe to draw: ``$`` escaped (no mathtext), shortened to ``limit`` characters."""
    text = str(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def format_number(value: float) -> str:
    """A short rendering of a number (4 significant digits)."""
    return f"{value:.4g}"


def new_figure(width: float, height: float) -> Figure:
    """An empty figure on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _margins(
    figure: Figure, left: float, right: float, top: float, bottom: float, **kw: Any
) -> None:
    """Fixed margins in inches: cheaper than constrained layout, which measures every text."""
    w, h = figure.get_size_inches()
    figure.subplots_adjust(left / w, bottom / h, 1 - right / w, 1 - top / h, **kw)


def _legend_height(labels: Sequence[str]) -> float:
    """Inches a legend of ``labels`` takes (8-point rows, :data:`LEGEND_ROWS` per column)."""
    return min(len(labels), LEGEND_ROWS) * 0.18 + 0.4


def _legend_width(labels: Sequence[str]) -> float:
    """Inches a legend of ``labels`` in 8-point text takes (estimated, no text measuring)."""
    if not labels:
        return 0.0
    chars = max(len(label_text(label, 32)) for label in labels)
    return math.ceil(len(labels) / LEGEND_ROWS) * (0.45 + 0.062 * chars) + 0.1


def _few_ticks(ax: Axes, bins: int = 5) -> None:
    """At most ``bins`` ticks a side, in 8-point text: ticks are a large part of drawing time."""
    ax.locator_params(nbins=bins)
    ax.tick_params(labelsize=8)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.45")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(figure: Figure, labels: Sequence[str], styles: Mapping[str, dict[str, Any]]) -> None:
    from matplotlib.lines import Line2D

    if not labels:
        return
    handles = [Line2D([], [], linewidth=2, **styles[label]) for label in labels]
    figure.legend(
        handles,
        [label_text(label, 32) for label in labels],
        loc="upper left",
        bbox_to_anchor=(1 - _legend_width(labels) / figure.get_size_inches()[0], 0.98),
        fontsize=8,
        frameon=False,
        ncols=math.ceil(len(labels) / LEGEND_ROWS),
        handlelength=2.2,
    )


# -- metric overlays ---------------------------------------------------------------------------
def metric_history_figure(
    histories: Mapping[str, Mapping[str, History]],
    metrics: Sequence[str] | None = None,
    *,
    best: Mapping[str, str | None] | None = None,
    columns: int = 2,
) -> Figure:
    """Metric-over-step overlays: one axes per metric, a line per run, a legend by run.

    Parameters
    ----------
    histories : mapping
        ``{run_label: {metric: (steps, values)}}``; the order of the labels is the order of
        the colors and of the legend.
    metrics : sequence of str, optional
        The metrics to draw, one axes each (default: every metric, sorted).
    best : mapping, optional
        ``{metric: run_label}``: that run's line is drawn thicker and named in the title.
    columns : int
        Axes per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = list(histories)
    if metrics is None:
        metrics = sorted({m for runs in histories.values() for m in runs})
    ncols = max(1, min(columns, len(metrics)))
    nrows = max(1, math.ceil(len(metrics) / ncols))
    legend = _legend_width(labels)
    height = max(2.6 * nrows + 0.5, _legend_height(labels))
    figure = new_figure((9.0 if ncols > 1 else 6.5) + legend, height)
    _margins(figure, 0.75, legend + 0.15, 0.35, 0.5, hspace=0.45, wspace=0.28)
    styles = run_styles(labels)
    if not metrics:
        _note(figure.add_subplot(), "No metrics logged yet")
        return figure
    for i, metric in enumerate(metrics):  # only the axes needed: each costs ~10 ms to create
        ax = figure.add_subplot(nrows, ncols, i + 1)
        _draw_metric(ax, metric, histories, styles, (best or {}).get(metric))
    _legend(figure, labels, styles)
    return figure


def _draw_metric(
    ax: Axes,
    metric: str,
    histories: Mapping[str, Mapping[str, History]],
    styles: Mapping[str, dict[str, Any]],
    best: str | None,
) -> None:
    """Every run's line as one LineCollection: one artist draws ~10x faster than 20 lines."""
    from matplotlib.collections import LineCollection

    lines = [
        (label == best, styles[label], *_series(runs[metric]))
        for label, runs in histories.items()
        if metric in runs
    ]
    lines.sort(key=lambda line: line[0])  # the best run's line is drawn last, on top
    segments, props = [], []
    for thick, style, steps, values in lines:
        for part in _finite_parts(steps, values):
            segments.append(part)
            props.append((style["color"], 2.6 if thick else 1.2, style["linestyle"]))
            if len(part) == 1:  # a lone point has no line to show it
                ax.plot(part[:, 0], part[:, 1], "o", markersize=4, color=style["color"])
    if segments:
        colors, widths, dashes = (list(p) for p in zip(*props, strict=True))
        ax.add_collection(
            LineCollection(segments, colors=colors, linewidths=widths, linestyles=dashes)
        )
        ax.autoscale_view()
    title = label_text(metric, 48) + (f"  (best: {label_text(best, 28)})" if best else "")
    ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlabel("step", fontsize=8)
    _few_ticks(ax)
    ax.grid(alpha=0.3)
    if not segments:
        _note(ax, "no numeric values")


def _finite_parts(steps: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """``(n, 2)`` arrays of the stretches of a line between missing values."""
    finite = np.isfinite(values)
    if finite.all():
        return [np.column_stack([steps, values])]
    edges = np.flatnonzero(np.diff(finite.astype(np.int8))) + 1
    pieces = np.split(np.column_stack([steps, values]), edges)
    flags = np.split(finite, edges)
    return [piece for piece, ok in zip(pieces, flags, strict=True) if ok[0]]


# -- parallel coordinates ----------------------------------------------------------------------
def _axis_positions(values: Sequence[Any]) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Values mapped to [0, 1] (NaN where missing), with tick positions and labels."""
    numbers, categories = _classify(values)
    if categories is not None:
        span = max(len(categories) - 1, 1)
        spots = [0.5] if len(categories) == 1 else [i / span for i in range(len(categories))]
        every = math.ceil(len(categories) / 12)  # at most about 12 labels per axis
        ticks = [(spots[i], label_text(c, 18)) for i, c in enumerate(categories) if i % every == 0]
        scaled = numbers / span if len(categories) > 1 else np.where(np.isnan(numbers), np.nan, 0.5)
        return scaled, ticks
    if np.isnan(numbers).all():
        return numbers, []
    low, high = np.nanmin(numbers), np.nanmax(numbers)
    if high == low:
        return np.where(np.isnan(numbers), np.nan, 0.5), [(0.5, format_number(low))]
    middle = (low + high) / 2
    ticks = [(0.0, format_number(low)), (0.5, format_number(middle)), (1.0, format_number(high))]
    return (numbers - low) / (high - low), ticks


def parallel_coordinates_figure(frame: pd.DataFrame, columns: Sequence[str]) -> Figure:
    """Parallel coordinates: a vertical axis per column, a line per run (the frame's rows).

    Each axis is normalised on its own: numbers from their minimum (bottom) to their maximum
    (top), text (a categorical param) spread evenly in natural order with each category
    written on the axis. Missing values sit on a dotted "missing" row below the axes.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per run, indexed by run label.
    columns : sequence of str
        The frame's columns to draw, left to right (absent ones are drawn as all missing).

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = [str(label) for label in frame.index]
    legend = _legend_width(labels)
    figure = new_figure(
        max(5.0, 1.35 * len(columns) + 1.2) + legend, max(4.2, _legend_height(labels))
    )
    _margins(figure, 0.7, legend + 0.2, 0.2, 0.9 if len(columns) > 4 else 0.5)
    ax = figure.add_subplot()
    if not labels or not columns:
        _note(ax, "Nothing to draw: choose runs and at least one param or metric")
        return figure
    axes = [_axis_positions(_column(frame, c)) for c in columns]
    positions = np.array([spots for spots, _ in axes]).T  # one row per run
    styles = run_styles(labels)
    xs = np.arange(len(columns))
    for label, ys in zip(labels, positions, strict=True):
        ax.plot(xs, ys, linewidth=1.5, alpha=0.9, **styles[label])
        missing = np.isnan(ys)
        if missing.any():
            marks = np.full(missing.sum(), MISSING_Y)
            ax.plot(xs[missing], marks, "x", color=styles[label]["color"])
    for j, (_, ticks) in enumerate(axes):
        _draw_axis(ax, j, ticks)
    _finish_parallel(ax, columns, bool(np.isnan(positions).any()))
    _legend(figure, labels, styles)
    return figure


def _column(frame: pd.DataFrame, column: str) -> list[Any]:
    return list(frame[column]) if column in frame.columns else [None] * len(frame)


def _draw_axis(ax: Axes, x: float, ticks: list[tuple[float, str]]) -> None:
    ax.axvline(x, color="0.35", linewidth=1, zorder=1)
    box = {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7}
    for spot, text in ticks:
        ax.text(x, spot, f" {text}", fontsize=7, va="center", ha="left", color="0.15", bbox=box)


def _finish_parallel(ax: Axes, columns: Sequence[str], any_missing: bool) -> None:
    if any_missing:
        ax.axhline(MISSING_Y, color="0.75", linestyle=":", linewidth=0.8, zorder=0)
        ax.text(-0.08, MISSING_Y, "missing", ha="right", va="center", fontsize=7, color="0.4")
    rotation = 20 if len(columns) > 4 else 0
    ax.set_xticks(
        range(len(columns)),
        [label_text(c, 24) for c in columns],
        fontsize=8,
        rotation=rotation,
        ha="right" if rotation else "center",
    )
    ax.set_yticks([])
    ax.set_xlim(-0.35, len(columns) - 0.35)
    ax.set_ylim(MISSING_Y - 0.08, 1.08)
    for spine in ax.spines.values():
        spine.set_visible(False)


# -- scatter -----------------------------------------------------------------------------------
def scatter_figure(frame: pd.DataFrame, x: str, y: str, *, annotate: int = 40) -> Figure:
    """A scatter of column ``y`` against column ``x``, a point per run (the frame's rows).

    Text columns (categorical params) are placed at evenly spaced positions labelled with
    their values. Runs missing either value are left out and counted in a note.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per run, indexed by run label.
    x, y : str
        Column names (a param, a metric, ``duration_s``...).
    annotate : int
        Write run labels next to the points when there are at most this many runs; a label
        that would overprint another is left out (the colors match the metric overlays').

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = [str(label) for label in frame.index]
    figure = new_figure(7.5, 4.6)
    _margins(figure, 1.0, 0.3, 0.25, 0.7)
    ax = figure.add_subplot()
    xs, x_categories = _classify(_column(frame, x))
    ys, y_categories = _classify(_column(frame, y))
    points = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    styles = run_styles(labels)
    colors = [styles[labels[i]]["color"] for i in points]
    ax.scatter(xs[points], ys[points], s=48, c=colors, edgecolors="white", linewidths=0.6, zorder=3)
    if len(labels) <= annotate:
        for i in _unclashed(points, xs, ys, labels):
            ax.annotate(label_text(labels[i], 22), (xs[i], ys[i]), xytext=(4, 4), **_ANNOTATION)
    for set_ticks, categories in ((ax.set_xticks, x_categories), (ax.set_yticks, y_categories)):
        if categories:
            set_ticks(range(len(categories)), [label_text(c, 18) for c in categories])
    _finish_scatter(ax, x, y, len(labels) - len(points), shown=len(points))
    return figure


LABEL_CHAR_W = 0.0095  # a 7-point character, as a share of the scatter's axes width
LABEL_H = 0.045  # a label's height, as a share of the axes height


def _unclashed(points: np.ndarray, xs: np.ndarray, ys: np.ndarray, labels: list[str]) -> list:
    """The points whose labels fit without overprinting an earlier one (no text measuring).

    Points are scaled to the axes (with the margins the scatter uses); each label is a box to
    the upper right of its point, and a label that would overlap a kept one is left out (the
    point stays, and its colour still matches the legend).
    """
    if len(points) == 0:
        return []

    def scaled(values: np.ndarray) -> np.ndarray:
        low, high = np.nanmin(values[points]), np.nanmax(values[points])
        span = (high - low) or 1.0
        return (values - low) / span / 1.3 + 0.115  # ax.margins(x=0.15): about 1/1.3 inside

    sx, sy = scaled(xs), scaled(ys)
    kept: list[tuple[float, float, float, float]] = []
    shown = []
    for i in points:
        box = (sx[i], sy[i], sx[i] + len(label_text(labels[i], 22)) * LABEL_CHAR_W + 0.01,
               sy[i] + LABEL_H)  # fmt: skip
        if all(box[2] < k[0] or box[0] > k[2] or box[3] < k[1] or box[1] > k[3] for k in kept):
            kept.append(box)
            shown.append(i)
    return shown


def _finish_scatter(ax: Axes, x: str, y: str, left_out: int, shown: int) -> None:
    ax.margins(x=0.15, y=0.08)  # room for the labels of the outermost points
    ax.set_xlabel(label_text(x, 60), fontsize=9)
    ax.set_ylabel(label_text(y, 60), fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if not shown:
        _note(ax, "No run has a value for both")
    elif left_out:
        note = f"{left_out} run{'s' if left_out > 1 else ''} without both values not shown"
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", **_SMALL)


# -- output ------------------------------------------------------------------------------------
def figure_to_png(figure: Figure, dpi: float | None = None) -> bytes:
    """The figure rendered as PNG bytes by the Agg backend.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    dpi : float, optional
        Resolution (default: the figure's, 100).

    Returns
    -------
    bytes
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    with _RENDER_LOCK:  # fonts and text layout caches are shared between threads
        figure.savefig(buffer, format="png", dpi=dpi or figure.dpi, facecolor="white")
    return buffer.getvalue()
