"""Charts (matplotlib, Agg) and comparison tables, without a notebook."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops.errors import InvalidInput, NotFound
from jupyter_mlops.viz import charts, compare

PNG = b"\x89PNG\r\n\x1a\n"
NASTY = "<img src=x onerror=alert(1)> $x^2$"


def run_doc(name, params=None, metrics=None, run_id=None, **extra):
    """A run document as find_runs returns it; ``metrics`` maps key -> (last, min, max)."""
    summaries = {
        key: {"last": last, "min": low, "max": high, "step": 9, "count": 10}
        for key, (last, low, high) in (metrics or {}).items()
    }
    return {
        "run_id": run_id or f"{name}-id".ljust(32, "0"),
        "run_name": name,
        "experiment": "exp",
        "experiment_id": "0",
        "status": "FINISHED",
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_002_500,
        "params": params or {},
        "metrics": summaries,
        **extra,
    }


# -- charts ------------------------------------------------------------------------------------
def history(n, offset=0.0):
    steps = np.arange(n)
    return steps, np.exp(-steps / 50) + offset


def test_as_floats_turns_anything_not_a_finite_number_into_nan():
    got = charts.as_floats([1, "2.5", None, "abc", float("inf"), True, float("nan")])
    assert got[:2].tolist() == [1.0, 2.5]
    assert np.isnan(got[[2, 3, 4, 6]]).all() and got[5] == 1.0


def test_overlay_has_an_axes_per_metric_and_a_legend_entry_per_run():
    labels = [f"run-{i:02d}" for i in range(20)]
    histories = {
        label: {"loss": history(300, i / 10), "acc": history(300)} for i, label in enumerate(labels)
    }
    figure = charts.metric_history_figure(histories, best={"loss": "run-03"})
    axes = figure.get_axes()
    assert [ax.get_title(loc="left") for ax in axes] == ["acc", "loss  (best: run-03)"]
    legend = figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == labels
    colors = {tuple(h.get_color()) for h in legend.legend_handles}
    assert len(colors) == 20  # 20 runs, 20 distinguishable colors
    (lines,) = axes[1].collections  # one LineCollection per axes, a segment per run
    widths = lines.get_linewidths()
    assert len(lines.get_segments()) == 20
    assert widths[-1] > 2 and max(widths[:-1]) < 2  # the best run: thick and drawn last
    assert tuple(lines.get_colors()[-1]) == tuple(legend.legend_handles[3].get_color())
    assert charts.figure_to_png(figure).startswith(PNG)


def test_overlay_survives_nan_text_missing_and_out_of_order_values():
    histories = {
        NASTY: {"loss": ([3, 1, 2, 0], [0.1, "bad", None, float("nan")])},
        "only-nan": {"loss": ([0, 1], [float("nan"), float("inf")])},
        "no-loss": {"acc": ([0], [0.5])},
        "ragged": {"loss": ([0, 1, 2], [1.0])},
        "text-steps": {"loss": (["a", "b"], [1.0, 2.0])},
    }
    figure = charts.metric_history_figure(histories, ["loss", "missing-metric"])
    loss, missing = figure.get_axes()
    assert [t.get_text() for t in missing.texts] == ["no numeric values"]
    segments = loss.collections[0].get_segments()
    assert [len(s) for s in segments] == [1, 1, 2]  # NaN splits a line; lone points kept
    assert [marker.get_xdata()[0] for marker in loss.get_lines()] == [3, 0]  # dots for them
    assert charts.figure_to_png(figure).startswith(PNG)  # "$x^2$" is not parsed as mathtext


def test_overlay_without_metrics_says_so():
    figure = charts.metric_history_figure({"a": {}})
    assert figure.get_axes()[0].texts[0].get_text() == "No metrics logged yet"
    assert charts.figure_to_png(figure).startswith(PNG)


def test_downsampling_keeps_long_histories_cheap():
    figure = charts.metric_history_figure({"long": {"loss": history(100_000)}})
    (segment,) = figure.get_axes()[0].collections[0].get_segments()
    assert len(segment) <= charts.MAX_POINTS
    assert segment[0, 0] == 0 and segment[-1, 0] == 99_999


def test_downsampling_keeps_spikes_and_gaps():
    values = np.zeros(10_000)
    values[4321], values[6000:6100] = 5.0, np.nan
    steps, kept = charts._downsample(np.arange(10_000.0), values)
    assert len(kept) <= charts.MAX_POINTS and np.nanmax(kept) == 5.0
    assert np.isnan(kept).any() and 4321 in steps


def comparison():
    return pd.DataFrame(
        {
            "params.lr": ["0.1", "0.01", "1.0", None],
            "params.solver": ["adam", "sgd", "adam", NASTY],
            "metrics.acc": [0.9, float("nan"), 0.7, 0.8],
            "metrics.const": [1.0, 1.0, 1.0, 1.0],
        },
        index=["a", "b", "c", NASTY],
    )


def test_parallel_coordinates_normalises_numbers_and_places_categories():
    frame = comparison()
    figure = charts.parallel_coordinates_figure(frame, list(frame.columns))
    ax = figure.get_axes()[0]
    lines = [line for line in ax.get_lines() if len(line.get_ydata()) == 4]  # one per run
    assert len(lines) == 4
    run_a = lines[0].get_ydata()
    assert run_a[0] == pytest.approx((0.1 - 0.01) / (1.0 - 0.01))  # lr normalised to [0, 1]
    assert run_a[3] == 0.5  # a constant axis sits in the middle
    ys = np.array([line.get_ydata() for line in lines], dtype=float)
    assert np.nanmin(ys) == 0 and np.nanmax(ys) == 1
    assert np.isnan(ys[3, 0]) and np.isnan(ys[1, 2])  # missing lr, NaN acc
    texts = {t.get_text().strip() for t in ax.texts}
    assert {"adam", "sgd", "missing", "1"} <= texts  # categories, missing row, constant axis
    markers = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert markers and all(y == charts.MISSING_Y for m in markers for y in m.get_ydata())
    assert [t.get_text() for t in ax.get_xticklabels()] == list(frame.columns)
    assert charts.figure_to_png(figure).startswith(PNG)


def test_parallel_coordinates_with_nothing_to_draw():
    figure = charts.parallel_coordinates_figure(comparison(), [])
    assert "Nothing to draw" in figure.get_axes()[0].texts[0].get_text()


def test_scatter_places_text_on_category_ticks_and_counts_runs_left_out():
    figure = charts.scatter_figure(comparison(), "params.solver", "metrics.acc")
    ax = figure.get_axes()[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert {"adam", "sgd"} <= set(ticks) and len(ticks) == 3
    assert len(ax.collections[0].get_offsets()) == 3  # b has acc NaN
    assert any("1 run without both values" in t.get_text() for t in ax.texts)
    assert charts.figure_to_png(figure).startswith(PNG)


def test_scatter_with_no_complete_pair_and_unknown_columns():
    figure = charts.scatter_figure(comparison(), "params.nope", "metrics.acc")
    assert figure.get_axes()[0].texts[0].get_text() == "No run has a value for both"
    assert charts.figure_to_png(figure).startswith(PNG)


def test_charts_render_in_parallel_threads():
    errors, pngs = [], []

    def draw(i):
        try:
            histories = {f"r{j}": {"m": history(200, j)} for j in range(5)}
            pngs.append(charts.figure_to_png(charts.metric_history_figure(histories)))
        except Exception as e:  # pragma: no cover - the failure is reported below
            errors.append(e)

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(pngs) == 4


def test_charts_never_touch_pyplot():
    code = (
        "import sys; from jupyter_mlops.viz import charts; "
        "charts.figure_to_png(charts.scatter_figure(__import__('pandas').DataFrame("
        "{'x': [1, 2], 'y': [3, 4]}), 'x', 'y')); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- comparison tables -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("val.loss", "min"),
        ("trainLoss", "min"),
        ("logloss", "min"),
        ("log_loss", "min"),
        ("error", "min"),
        ("test_error_rate", "min"),
        ("mae", "min"),
        ("val_mse", "min"),
        ("rmse", "min"),
        ("duration", "min"),
        ("fit_time", "min"),
        ("accuracy", "max"),
        ("f1", "max"),
        ("roc_auc", "max"),
        ("r2", "max"),
        ("neg_mean_squared_error", "max"),
        ("msec_per_step", "max"),  # no whole word "mse" in it
    ],
)
def test_guess_direction(name, direction):
    assert compare.guess_direction(name) == direction


def sweep():
    loss_a, acc_a = (0.3, 0.2, 0.9), (0.8, 0.5, 0.8)
    loss_b, acc_b = (0.1, 0.1, 0.8), (0.9, 0.4, 0.9)
    return [
        run_doc("a", {"lr": "0.1", "seed": "0"}, {"loss": loss_a, "acc": acc_a}),
        run_doc("b", {"lr": "0.01", "seed": "0"}, {"loss": loss_b, "acc": acc_b}),
        run_doc(
            "a",
            {"lr": "1.0", "seed": "0", "extra": NASTY},
            {"loss": (math.nan, 0.5, 2.0)},
            run_id="c" * 32,
        ),
    ]


def test_run_labels_add_a_short_id_to_repeated_names():
    labels = compare.run_labels(sweep())
    assert list(labels.values()) == [f"a ({'a-id00'})", "b", "a (cccccc)"]


def test_param_diff_and_only_differences():
    full = compare.param_diff(sweep())
    assert list(full.index) == ["extra", "lr", "seed"]
    assert full.loc["extra"].tolist() == [None, None, NASTY]
    assert list(compare.param_diff(sweep(), only_differences=True).index) == ["extra", "lr"]


def test_metric_summary_keeps_missing_apart_from_nan():
    summary = compare.metric_summary(sweep())
    assert summary.loc[("acc", "last")].tolist()[:2] == [0.8, 0.9]
    assert summary.loc[("acc", "last")].tolist()[2] is None
    assert math.isnan(summary.loc[("loss", "last")].tolist()[2])
    assert summary.loc[("loss", "max")].tolist() == [0.9, 0.8, 2.0]


def test_best_runs_guesses_directions_and_takes_overrides():
    best = compare.best_runs(sweep())
    assert best.loc["loss", "run"] == "b" and best.loc["loss", "direction"] == "min"
    assert best.loc["acc", "run"] == "b" and best.loc["acc", "value"] == 0.9
    flipped = compare.best_runs(sweep(), directions={"loss": "max"})
    assert flipped.loc["loss", "run"] == "a (a-id00)"  # the NaN of run c is ignored
    by_max = compare.best_runs(sweep(), ["loss"], stat="max", directions={"loss": "max"})
    assert by_max.loc["loss", "run"] == "a (cccccc)"
    nobody = compare.best_runs(sweep(), ["absent"])
    assert nobody.loc["absent", "run_id"] is None
    with pytest.raises(InvalidInput, match="'max' or 'min'"):
        compare.best_runs(sweep(), directions={"loss": "lowest"})


def test_runs_table_and_sorting_with_missing_values_last():
    runs = sweep() + [run_doc("d", {"lr": "abc"}), run_doc("e")]
    table = compare.runs_table(runs, ["lr"], ["loss"])
    assert list(table.columns[:6]) == [
        "run_id", "run_name", "experiment", "status", "start_time", "duration_s"
    ]  # fmt: skip
    assert table["duration_s"].tolist()[0] == 2.5
    assert table["metrics.loss.last"].tolist()[3] is None
    numeric = compare.runs_table(runs[:3] + runs[4:], ["lr"], [])
    assert compare.sort_table(numeric, "params.lr")["params.lr"].tolist() == [
        "0.01", "0.1", "1.0", None
    ]  # fmt: skip
    descending = compare.sort_table(numeric, "params.lr", ascending=False)
    assert descending["params.lr"].tolist() == ["1.0", "0.1", "0.01", None]
    mixed = compare.sort_table(table, "params.lr")["params.lr"].tolist()
    assert mixed == ["0.01", "0.1", "1.0", "abc", None]  # text order once a value is not a number
    by_loss = compare.sort_table(table, "metrics.loss.last")["run_name"].tolist()
    assert by_loss[:2] == ["b", "a"] and set(by_loss[2:]) == {"a", "d", "e"}


def test_load_runs_by_id_prefix_and_name(tracking_store):
    ids = {}
    for name in ("alpha", "beta", "beta"):
        with mlops.start_run(name=name, experiment="e") as run:
            ids.setdefault(name, []).append(run.id)
    assert [r["run_name"] for r in compare.load_runs(["alpha", ids["beta"][0][:8]])] == [
        "alpha", "beta"
    ]  # fmt: skip
    assert len(compare.load_runs([ids["alpha"][0], "alpha"])) == 1  # the same run once
    with pytest.raises(InvalidInput, match="'beta' matches 2 runs"):
        compare.load_runs(["beta"])
    with pytest.raises(NotFound, match="No run 'nope'"):
        compare.load_runs(["nope"])
    with pytest.raises(InvalidInput, match="at least one run"):
        compare.load_runs([])


def test_themed_svg_uses_jupyterlab_colours_and_keeps_labels_inert():
    from jupyter_mlops.viz.theme import figure_to_svg, theme_color

    figure = charts.new_figure(4, 3)
    ax = figure.add_subplot()
    label = "--><img src=x onerror=alert(1)>"
    ax.plot([0, 1, 2], [2, 1, 3], label=label, color="#1f77b4")
    ax.set_title(label)
    ax.legend()
    svg = figure_to_svg(figure)
    assert svg.startswith('<svg class="jp-mlops-svg"') and svg.rstrip().endswith("</svg>")
    assert "<img" not in svg and "<!--" not in svg and "&lt;img" in svg  # text, never markup
    assert "var(--jp-ui-font-color1" in svg and "#1f77b4" in svg  # greys themed, hues kept
    assert "#ffffff" not in svg and "*{" not in svg  # no white box, no page-wide style
    ax.set_xlabel("lr 0.00125")
    assert ">lr 0.00125<" in figure_to_svg(figure)  # path data is rounded, labels never
    assert theme_color("#000000").startswith("var(--jp-ui-font-color1")
    assert theme_color("#d62728") == "#d62728"


def test_scatter_labels_never_overprint():
    import pandas as pd

    frame = pd.DataFrame(
        {"metrics.acc": [0.9, 0.9001, 0.9002, 0.5], "params.lr": [1.0, 1.0, 1.0, 0.1]},
        index=["run-a", "run-b", "run-c", "far-away"],
    )
    figure = charts.scatter_figure(frame, "params.lr", "metrics.acc")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "far-away" in texts and len([t for t in texts if t.startswith("run-")]) == 1
