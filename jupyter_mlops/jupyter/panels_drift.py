"""Drift panels: :class:`DriftPanel` (two samples) and :class:`MonitorPanel` (a deployment).

Thin adapters over :mod:`jupyter_mlops.monitoring`: the reports come from ``detect_drift`` and
``monitor``, the figures from :mod:`jupyter_mlops.monitoring.charts`. A panel is a ``VBox`` of
stock widgets; its static fallback (``text/html`` beside the widget view) holds the same tables
and the charts as themed inline SVG, so the notebook reads in nbconvert, on GitHub and in VS Code.
Column names, statuses and alert texts are user strings: every one is escaped.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.jupyter.panels import (
    CSS,
    StaticFallback,
    esc,
    format_cell,
    heading,
    html_table,
    note,
)
from jupyter_mlops.monitoring.report import DriftReport

STATIC_DISTRIBUTIONS = 6  # distributions the static fallback shows (the drifted columns first)
SHOWN_ALERTS = 5
SHOWN_WINDOWS = 48  # newest windows in the table (the chart shows them all)
# Banners tint with a translucent red/green over the page, and their text is the theme's own
# text colour: readable in the light and the dark theme (a light pink --jp-error-color3 under
# the dark theme's light text was not).
DRIFT_CSS = """<style>
.jp-mlops-alert {border-left: 4px solid var(--jp-error-color1, #c00); padding: 4px 8px;
  margin: 4px 0; background: rgba(211, 47, 47, 0.14); color: var(--jp-ui-font-color1, #222);}
.jp-mlops-ok {border-left: 4px solid var(--jp-success-color1, #2a2); padding: 4px 8px;
  margin: 4px 0; background: rgba(56, 142, 60, 0.12); color: var(--jp-ui-font-color1, #222);}
.jp-mlops-table tr.jp-mlops-drifted td {background: rgba(211, 47, 47, 0.14);}
.jp-mlops-bars {display: grid; grid-template-columns: minmax(8em, max-content) 1fr 7em;
  gap: 3px 8px; align-items: center; font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222); max-width: 1100px;}
.jp-mlops-bar-name {text-align: right; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; max-width: 22em;}
.jp-mlops-bar-track {position: relative; height: 14px;}
.jp-mlops-bar {position: absolute; left: 0; top: 0; bottom: 0; border-radius: 1px;
  background: var(--jp-ui-font-color3, #9e9e9e);}
.jp-mlops-bar.jp-mlops-drifted {background: var(--jp-error-color1, #d32f2f);}
.jp-mlops-bar-line {position: absolute; top: -3px; bottom: -3px; width: 0;
  border-left: 2px dashed var(--jp-ui-font-color1, #212121);}
.jp-mlops-bar-value {color: var(--jp-ui-font-color2, #616161);
  font-variant-numeric: tabular-nums;}
.jp-mlops-bars-axis {color: var(--jp-ui-font-color2, #616161);
  font-size: var(--jp-ui-font-size0, 11px);}
</style>"""
TABLE_HEAD = ("column", "kind", "method", "statistic", "p-value", "threshold", "drifted",
              "status", "missing change")  # fmt: skip


def _svg(figure: Any) -> str:
    """A figure as themed inline SVG (it follows JupyterLab's light and dark themes)."""
    from jupyter_mlops.viz.theme import figure_to_svg

    return figure_to_svg(figure)


def _image() -> widgets.HTML:
    """A chart: themed inline SVG, as wide as the output allows."""
    return widgets.HTML(layout=widgets.Layout(width="100%"))


def drift_bars(report: DriftReport) -> str:
    """One bar per column, as wide as the output: how far past its threshold (line = 1×).

    The side bar's encoding: longer means more drift for tests and distances alike; a bar
    longer than 4× is drawn at 4× and says its value. Every column name is escaped.
    """
    from jupyter_mlops.monitoring.charts import SEVERITY_CAP, severity

    rows = [(r, severity(r)) for r in report.to_dict()["columns"]]
    rows.sort(key=lambda item: -(item[1] if item[1] is not None else -1))
    cap = max(2.0, min(SEVERITY_CAP, max((s or 0) for _, s in rows) if rows else 2.0))
    parts = []
    for row, score in rows:
        name = f'<span class="jp-mlops-bar-name" title="{esc(row["column"])}">' + (
            f"{esc(row['column'])}</span>"
        )
        if score is None:
            cell = f'<span class="jp-mlops-note">{esc(row["status"] or "not tested")}</span>'
            parts.append(f"{name}{cell}<span></span>")
            continue
        width = max(0.0, min(score, cap)) / cap * 100
        kind = " jp-mlops-drifted" if row["drifted"] else ""
        line = 100 / cap
        track = (
            f'<span class="jp-mlops-bar-track"><span class="jp-mlops-bar{kind}" '
            f'style="width: {width:.1f}%"></span><span class="jp-mlops-bar-line" '
            f'style="left: {line:.1f}%" title="threshold"></span></span>'
        )
        value = f"{max(score, 0.0):.2g}×" + (" (cut)" if score > cap else "")
        parts.append(f'{name}{track}<span class="jp-mlops-bar-value">{value}</span>')
    axis = (
        '<span></span><span class="jp-mlops-bars-axis">bar: × the threshold (dashed line = 1×, '
        "drift at or past it; p-values count as log p / log threshold)</span><span></span>"
    )
    return f'<div class="jp-mlops-bars" role="img" aria-label="drift per column">{"".join(parts)}{axis}</div>'  # noqa: E501


# -- HTML pieces -------------------------------------------------------------------------------
def summary_line(report: DriftReport) -> str:
    """The verdict and the share of drifted columns, as HTML."""
    kind = "jp-mlops-alert" if report.dataset_drift else "jp-mlops-ok"
    verdict = "Dataset drift" if report.dataset_drift else "No dataset drift"
    text = (
        f"{report.n_drifted} of {report.n_tested} tested columns drifted "
        f"({report.drift_share:.0%}; dataset drift at {report.drift_share_threshold:.0%}) · "
        f"{report.reference_rows} reference rows, {report.current_rows} current rows"
    )
    return f'<div class="{kind}"><b>{verdict}</b>: {esc(text)}</div>'


def columns_table(report: DriftReport) -> str:
    """One row per column, drifted rows highlighted; every cell escaped."""
    rows = []
    for r in report.to_dict()["columns"]:
        cls = ' class="jp-mlops-drifted"' if r["drifted"] else ""
        cells = [r["column"], r["kind"], r["method"]]
        numbers = [r["statistic"], r["p_value"], r["threshold"]]
        drifted = "" if r["drifted"] is None else ("yes" if r["drifted"] else "no")
        change = r["missing_share_change"]
        rows.append(
            f"<tr{cls}>"
            + "".join(f"<td>{format_cell(c)}</td>" for c in cells)
            + "".join(f'<td class="jp-mlops-num">{format_cell(n)}</td>' for n in numbers)
            + f"<td>{drifted}</td><td>{format_cell(r['status'])}</td>"
            + f'<td class="jp-mlops-num">{"" if change is None else f"{change:+.1%}"}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in TABLE_HEAD)
    return (
        '<div class="jp-mlops-scroll"><table class="jp-mlops-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def alert_banner(result: Any) -> str:
    """A visible banner for the alerting windows of a ``MonitorResult`` (escaped)."""
    alerts = result.alerts
    if not result.results:
        return note(result.message or "No windows yet.")
    if not alerts:
        return f'<div class="jp-mlops-ok">No alert: {esc(result.summary())}</div>'
    items = "".join(
        f"<li>{esc(f'{_when(w)}, {_v(w.version)}: {w.alert_reason}')}</li>"
        for w in alerts[-SHOWN_ALERTS:]
    )
    more = (
        f"<li>… and {len(alerts) - SHOWN_ALERTS} earlier</li>" if len(alerts) > SHOWN_ALERTS else ""
    )
    return (
        f'<div class="jp-mlops-alert"><b>⚠ Drift alert</b>: {len(alerts)} of '
        f"{len(result.results)} window(s) of {esc(result.deployment)} drifted"
        f"<ul>{items}{more}</ul></div>"
    )


def windows_table(result: Any) -> str:
    """One row per window: rows, status, drift share, prediction drift, metrics, alert."""
    frame = result.windows
    metrics = [c for c in frame.columns if c.startswith("metrics.")]
    contract = ["contract violations"] if any(w.contract for w in result.results) else []
    head = ["window start (UTC)", "version", "rows", "status", "drift share", *contract,
            "drifted columns", "prediction drift", "labelled", *[m[8:] for m in metrics],
            "alert"]  # fmt: skip
    rows = []
    shown = list(zip(result.results, frame.iterrows(), strict=True))[-SHOWN_WINDOWS:]
    for w, (_, r) in shown:
        cells = [
            f"{w.window_start:%Y-%m-%d %H:%M:%S}", w.version, w.rows, w.status,
            None if w.report is None else f"{w.drift_share:.0%}",
            *[f"{w.violation_share:.1%}" if w.contract else None for _ in contract],
            ", ".join(w.drifted_columns),
            _yes_no(w.prediction.get("drifted")), w.labelled,
            *[r[m] for m in metrics], "⚠ " + w.alert_reason if w.alert else "",
        ]  # fmt: skip
        rows.append([f"<td>{format_cell(_cell(c))}</td>" for c in cells])
    hidden = len(result.results) - len(shown)
    more = note(f"{hidden} earlier window(s) not shown: see result.windows.") if hidden else ""
    return html_table([f"<th>{esc(h)}</th>" for h in head], rows) + more


def _v(version: Any) -> str:
    return "runs:/ model" if version is None else f"v{version}"


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _cell(value: Any) -> Any:
    try:
        return None if value != value else value  # NaN and pd.NA: missing
    except (TypeError, ValueError):
        return None


# -- two samples -------------------------------------------------------------------------------
class DriftPanel(StaticFallback, widgets.VBox):
    """A drift report: verdict, per-column table, drift scores, and a column picker.

    Parameters
    ----------
    report : DriftReport
        What ``detect_drift`` returned.
    title : str
        The panel's heading.
    """

    def __init__(self, report: DriftReport, title: str = "Data drift"):
        self.title = title
        self._lock = threading.RLock()
        self._svgs: dict[str | None, str] = {}
        self.summary_html = widgets.HTML()
        self.table_html = widgets.HTML()
        self.scores_image = _image()
        self.column_picker = widgets.Dropdown(description="Column", layout={"width": "32em"})
        self.distribution_image = _image()
        super().__init__(
            [
                self.summary_html,
                widgets.HTML(heading("Columns")),
                self.table_html,
                widgets.HTML(heading("Drift per column")),
                self.scores_image,
                widgets.HTML(heading("Distribution")),
                self.column_picker,
                self.distribution_image,
            ]
        )
        self.add_class("jp-mlops-panel")
        self.column_picker.observe(lambda _: self._render_distribution(), names="value")
        self.show(report)

    def show(self, report: DriftReport) -> None:
        """Show another report (e.g. another window) in the same panel."""
        with self._lock:
            self.report, self._svgs = report, {}
            self.summary_html.value = CSS + DRIFT_CSS + heading(self.title) + summary_line(report)
            self.table_html.value = columns_table(report)
            self.scores_image.value = drift_bars(report)
            options = [(_option(r), r["column"]) for r in report.to_dict()["columns"]]
            self.column_picker.options = options
            self.column_picker.value = self._first_column()
            self._render_distribution()

    def _first_column(self) -> str | None:
        names = self.report.drifted_columns or self.report.columns["column"].tolist()
        return names[0] if names else None

    def _chart(self, column: str) -> str:
        """The SVG of one column's distributions, drawn once."""
        with self._lock:
            if column not in self._svgs:
                self._svgs[column] = _svg(self.report.plot(column))
            return self._svgs[column]

    def _render_distribution(self) -> None:
        column = self.column_picker.value
        self.distribution_image.value = "" if column is None else self._chart(column)

    def static_html(self) -> str:
        """Verdict, table, scores and distributions (drifted columns first) as HTML."""
        with self._lock:
            chosen = self.column_picker.value
            names = [chosen] if chosen is not None else []
            names += [c for c in self.report.drifted_columns if c not in names]
            parts = [
                f'<div class="jp-mlops-panel">{self.summary_html.value}',
                heading("Columns"),
                self.table_html.value,
                heading("Drift per column"),
                drift_bars(self.report),
                heading("Distributions"),
                *[self._chart(c) for c in names[:STATIC_DISTRIBUTIONS]],
            ]  # fmt: skip
        return "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return f"<DriftPanel {self.report.summary()}>"


def _option(row: dict[str, Any]) -> str:
    if row["drifted"]:
        return f"{row['column']} — drift"
    return row["column"] if row["status"] in ("ok", "constant") else f"{row['column']} (not tested)"


# -- a deployment over time ------------------------------------------------------------------------
class MonitorPanel(StaticFallback, widgets.VBox):
    """Drift of a deployment over time: alert banner, drift-over-time chart, windows, details.

    Parameters
    ----------
    result : MonitorResult
        What ``monitor`` returned. A window picker shows any tested window's report below.
    """

    def __init__(self, result: Any):
        self.result = result
        self.banner_html = widgets.HTML(CSS + DRIFT_CSS + alert_banner(result))
        self._over_time = _svg(result.plot()) if result.results else ""
        self.over_time_image = _image()
        self.over_time_image.value = self._over_time
        self.windows_html = widgets.HTML(windows_table(result) if result.results else "")
        tested = [i for i, w in enumerate(result.results) if w.report is not None]
        self.window_picker = widgets.Dropdown(
            description="Window",
            options=[(_window_label(result.results[i]), i) for i in tested],
            value=tested[-1] if tested else None,
            layout={"width": "32em"},
        )
        window = result.results[tested[-1]] if tested else None
        self.detail = None if window is None else DriftPanel(window.report, _detail_title(window))
        super().__init__(self._children())
        self.add_class("jp-mlops-panel")
        self.window_picker.observe(lambda _: self._show_window(), names="value")

    def _children(self) -> list[widgets.Widget]:
        children = [widgets.HTML(_title(self.result)), self.banner_html]
        if self.result.results:
            children += [self.over_time_image, widgets.HTML(heading("Windows")), self.windows_html]
        if self.detail is not None:
            children += [self.window_picker, self.detail]
        return children

    def _show_window(self) -> None:
        window = self.result.results[self.window_picker.value]
        self.detail.title = _detail_title(window)  # type: ignore[union-attr]
        self.detail.show(window.report)  # type: ignore[union-attr]

    def static_html(self) -> str:
        """Banner, drift over time, the windows and the chosen window's report, as HTML."""
        result = self.result
        parts = [
            f'<div class="jp-mlops-panel">{CSS}{DRIFT_CSS}',
            _title(result),
            alert_banner(result),
        ]
        if result.results:
            parts += [self._over_time, heading("Windows")]
            parts.append(self.windows_html.value)
        if self.detail is not None:
            parts.append(self.detail.static_html())
        return "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return f"<MonitorPanel {self.result.summary()}>"


def _title(result: Any) -> str:
    return heading(f"Drift of {result.deployment} over time ({result.window} windows)")


def _when(window: Any) -> str:
    return f"{window.window_start:%Y-%m-%d %H:%M:%S} UTC"


def _window_label(window: Any) -> str:
    flag = " ⚠" if window.alert else ""
    return f"{_when(window)} · {_v(window.version)} · {window.rows} rows{flag}"


def _detail_title(window: Any) -> str:
    return f"Window {_when(window)} ({_v(window.version)}, {window.rows} rows)"
