"""The evaluation plots, drawn from a report's plot data, as theme-aware SVG.

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot state); :func:`svgs` renders
them with :func:`~jupyter_mlops.viz.theme.figure_to_svg`, whose greys follow the JupyterLab theme
(the run page and the compare panel draw the same way). Classification: confusion matrix, ROC,
precision-recall and calibration curves; regression: residuals against predictions and
predictions against actual values; both: the error by feature, and the run's learning curves
when it logged training and validation histories.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SERIES = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#ccb974")
TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc": "ROC curve",
    "pr": "Precision-recall curve",
    "calibration": "Calibration",
    "residuals": "Residuals",
    "predicted_vs_actual": "Predicted against actual",
    "error_by_feature": "Error by feature",
    "learning_curves": "Learning curves",
}


def _figure(width: float = 4.2, height: float = 3.4) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def confusion_matrix(data: dict[str, Any]) -> Any:
    """Counts per (true, predicted) class, with the row share in each cell."""
    matrix = np.asarray(data["matrix"], dtype=float)
    classes = data["classes"]
    fig = _figure(1.6 + 0.5 * len(classes), 1.3 + 0.5 * len(classes))
    ax = fig.add_subplot()
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        color = "#ffffff" if share[i, j] > 0.5 else "#000000"
        ax.text(j, i, f"{count:.0f}\n{share[i, j]:.0%}", ha="center", va="center", color=color,
                fontsize=8)  # fmt: skip
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes)
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig


def _curve_figure(data: dict[str, Any], xlabel: str, ylabel: str, diagonal: bool) -> Any:
    fig = _figure()
    ax = fig.add_subplot()
    for i, curve in enumerate(data["curves"]):
        ax.plot(curve["x"], curve["y"], color=SERIES[i % len(SERIES)], label=curve["label"])
        if not diagonal:
            ax.axhline(curve["prevalence"], color=SERIES[i % len(SERIES)], lw=0.6, ls=":")
    if diagonal:
        ax.plot([0, 1], [0, 1], color="#8c8c8c", lw=0.8, ls="--")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel)
    ax.grid(color="#e0e0e0", lw=0.5)
    if data["curves"]:
        ax.legend(fontsize=7, frameon=False)
    return fig


def roc(data: dict[str, Any]) -> Any:
    """True against false positive rate, per class (the positive class for binary)."""
    return _curve_figure(data, "false positive rate", "true positive rate", True)


def pr(data: dict[str, Any]) -> Any:
    """Precision against recall; the dotted line is the class's prevalence (a random model)."""
    return _curve_figure(data, "recall", "precision", False)


def calibration(data: dict[str, Any]) -> Any:
    """Observed frequency against mean predicted probability per bin (the diagonal is ideal)."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#8c8c8c", lw=0.8, ls="--")
    ax.plot(data["confidence"], data["observed"], marker="o", color=SERIES[0])
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=f"mean {data['of']}", ylabel="observed frequency")
    ax.grid(color="#e0e0e0", lw=0.5)
    return fig


def residuals(data: dict[str, Any]) -> Any:
    """Actual minus predicted against predicted."""
    predicted = np.asarray(data["predicted"])
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(predicted, np.asarray(data["actual"]) - predicted, s=4, alpha=0.5, color=SERIES[0])
    ax.axhline(0, color="#000000", lw=0.8)
    ax.set(xlabel="predicted", ylabel="residual (actual - predicted)")
    ax.grid(color="#e0e0e0", lw=0.5)
    return fig


def predicted_vs_actual(data: dict[str, Any]) -> Any:
    """Predicted against actual; the diagonal is a perfect model."""
    actual, predicted = np.asarray(data["actual"]), np.asarray(data["predicted"])
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=4, alpha=0.5, color=SERIES[0])
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="#8c8c8c", lw=0.8, ls="--")
    ax.set(xlabel="actual", ylabel="predicted")
    ax.grid(color="#e0e0e0", lw=0.5)
    return fig


def error_by_feature(data: list[dict[str, Any]]) -> Any:
    """One bar chart per feature: the error in each of its slices."""
    fig = _figure(2.6 * len(data) + 0.4, 3.0)
    axes = fig.subplots(1, len(data), squeeze=False)[0]
    for ax, feature in zip(axes, data, strict=True):
        positions = range(len(feature["slices"]))
        ax.bar(positions, feature["error"], color=SERIES[0])
        ax.set_xticks(positions, feature["slices"], rotation=45, ha="right", fontsize=7)
        ax.set_title(feature["column"], fontsize=9)
        ax.grid(axis="y", color="#e0e0e0", lw=0.5)
        ax.set_axisbelow(True)
    axes[0].set_ylabel(data[0]["what"])
    return fig


def learning_curves(data: list[dict[str, Any]]) -> Any:
    """Each training/validation pair of the run's histories, against the step."""
    fig = _figure(3.2 * len(data) + 0.4, 3.0)
    axes = fig.subplots(1, len(data), squeeze=False)[0]
    for ax, pair in zip(axes, data, strict=True):
        ax.plot(pair["steps_train"], pair["train_values"], color=SERIES[0], label=pair["train"])
        ax.plot(pair["steps_val"], pair["val_values"], color=SERIES[1], label=pair["validation"])
        ax.set_xlabel("step")
        ax.grid(color="#e0e0e0", lw=0.5)
        ax.legend(fontsize=7, frameon=False)
    return fig


DRAW: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "confusion_matrix": ("confusion_matrix", confusion_matrix),
    "roc": ("roc", roc),
    "pr": ("pr", pr),
    "calibration": ("calibration", calibration),
    "residuals": ("residuals", residuals),
    "predicted_vs_actual": ("residuals", predicted_vs_actual),
    "error_by_feature": ("error_by_feature", error_by_feature),
    "learning_curves": ("learning_curves", learning_curves),
}


def figures(plot_data: dict[str, Any]) -> dict[str, Any]:
    """``{plot name: Figure}`` for the plot data a report holds."""
    return {name: draw(plot_data[key]) for name, (key, draw) in DRAW.items() if key in plot_data}


def svgs(plot_data: dict[str, Any]) -> dict[str, str]:
    """``{plot name: themed SVG markup}``."""
    from jupyter_mlops.viz.theme import figure_to_svg

    return {name: figure_to_svg(fig) for name, fig in figures(plot_data).items()}
