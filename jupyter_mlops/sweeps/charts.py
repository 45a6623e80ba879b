"""The sweep charts as matplotlib figures (Agg, no pyplot).

Optimization history, parallel coordinates and parameter importances. The kernel panel shows
them as PNGs and embeds them in its static fallback; the sidebar draws the same data itself
from ``GET sweeps/<name>``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from jupyter_mlops.viz.charts import figure_to_png, label_text, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from jupyter_mlops.sweeps.views import SweepView

__all__ = ["figure_to_png", "history_figure", "importance_figure", "parallel_figure"]
STATE_STYLE: dict[str, dict[str, Any]] = {
    "complete": {"color": "#1f77b4", "marker": "o"},
    "pruned": {"color": "#999999", "marker": "x"},
    "failed": {"color": "#d62728", "marker": "v"},
    "interrupted": {"color": "#ff7f0e", "marker": "s"},
}


def history_figure(view: SweepView) -> Figure:
    """Each trial's value by trial number, and the best value so far as a step line."""
    figure = new_figure(6.4, 3.2)
    figure.subplots_adjust(left=0.13, right=0.97, top=0.9, bottom=0.17)
    ax = figure.add_subplot()
    history = view.history()
    shown = False
    for state, style in STATE_STYLE.items():
        points = [(h["number"], h["value"]) for h in history if h["state"] == state]
        points = [(n, v) for n, v in points if v is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, s=18, label=f"{state} ({len(points)})", alpha=0.85, **style)
            shown = True
    best = [(h["number"], h["best"]) for h in history if h["best"] is not None]
    if best:
        xs, ys = zip(*best, strict=True)
        ax.step(xs, ys, where="post", color="#2ca02c", linewidth=1.6, label="best so far")
    if not shown:
        ax.text(0.5, 0.5, "No finished trial yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=7, loc="best", frameon=False)
    ax.set_xlabel("trial")
    ax.set_ylabel(label_text(view.metric))
    ax.set_title(f"Optimization history ({view.direction})", fontsize=9)
    ax.grid(alpha=0.3)
    return figure


def parallel_figure(view: SweepView) -> Figure:
    """An axis per param and the metric, a line per complete trial coloured by its value."""
    from matplotlib import colormaps

    names = list(view.space) + [view.metric]
    done = [t for t in view.trials if t.state == "complete" and t.value is not None]
    figure = new_figure(max(5.0, 1.3 * len(names) + 1.6), 3.4)
    figure.subplots_adjust(left=0.06, right=0.86, top=0.88, bottom=0.16)
    ax = figure.add_subplot()
    if len(done) < 2:
        ax.text(0.5, 0.5, "Two complete trials are needed", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return figure
    values: list[float] = [float(t.value or 0.0) for t in done]
    columns = [_axis(view, n, [t.params.get(n) for t in done]) for n in view.space]
    columns.append(_axis(view, view.metric, values))
    low, high = min(values), max(values)
    cmap = colormaps["viridis_r" if view.direction == "minimize" else "viridis"]
    order = sorted(range(len(done)), key=lambda i: _rank(view, values[i]))
    for i in order:  # best last, so it is drawn on top
        share = 0.5 if high == low else (values[i] - low) / (high - low)
        ax.plot(range(len(names)), [c[0][i] for c in columns], color=cmap(share), alpha=0.75)
    for x, (_, ticks) in enumerate(columns):
        ax.axvline(x, color="#444", linewidth=0.8)
        for y, label in ticks:
            ax.text(x + 0.03, y, label, fontsize=6.5, va="center")
    ax.set_xticks(range(len(names)), [label_text(n, 18) for n in names], fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.1, len(names) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Parallel coordinates ({len(done)} complete trials)", fontsize=9)
    _colorbar(figure, cmap, low, high, view.metric)
    return figure


def importance_figure(view: SweepView) -> Figure:
    """Horizontal bars: each param's share of the metric's variation."""
    items = list(view.importances.items())[::-1]
    figure = new_figure(5.2, max(1.6, 0.42 * len(items) + 0.9))
    figure.subplots_adjust(left=0.25, right=0.95, top=0.82, bottom=0.2)
    ax = figure.add_subplot()
    if not items:
        ax.text(0.5, 0.5, "Needs four complete trials", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return figure
    ax.barh([label_text(k, 24) for k, _ in items], [v for _, v in items], color="#1f77b4")
    for y, (_, v) in enumerate(items):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("importance (random-forest estimate)", fontsize=8)
    ax.set_title("Parameter importances", fontsize=9)
    return figure


def _axis(
    view: SweepView, name: str, raw: list[Any]
) -> tuple[list[float], list[tuple[float, str]]]:
    numbers = [_number(v) for v in raw]
    if any(n is None for n in numbers) or view.space.get(name, "").startswith("choice"):
        levels = sorted({str(v) for v in raw})
        spots = {lv: (i + 0.5) / len(levels) for i, lv in enumerate(levels)}
        return [spots[str(v)] for v in raw], [(spots[lv], label_text(lv, 14)) for lv in levels]
    known = [n for n in numbers if n is not None]
    log = view.space.get(name, "").startswith("log") and all(n > 0 for n in known)
    scaled = [math.log10(n) if log else n for n in known]
    low, high = min(scaled), max(scaled)
    span = (high - low) or 1.0
    ticks = [(0.0, _fmt(min(known))), (1.0, _fmt(max(known)))]
    return [(s - low) / span for s in scaled], ticks


def _colorbar(figure: Figure, cmap: Any, low: float, high: float, metric: str) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    axis = figure.add_axes((0.9, 0.18, 0.02, 0.66))
    figure.colorbar(ScalarMappable(Normalize(low, high), cmap), cax=axis)
    axis.set_ylabel(label_text(metric, 20), fontsize=7)
    axis.tick_params(labelsize=6)


def _rank(view: SweepView, value: float) -> float:
    return -value if view.direction == "minimize" else value


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: Any) -> str:
    return f"{value:.3g}"
