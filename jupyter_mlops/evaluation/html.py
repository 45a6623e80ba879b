"""Static HTML of an evaluation report (nbconvert, GitHub, the registry panel); all escaped.

Each section is its own function so the widget panel can put them in tabs; :func:`report_html`
joins them for the static fallback.
"""

from __future__ import annotations

import html
from typing import Any

SHOWN_SLICES = 10
WIDE = ("error_by_feature", "learning_curves")  # one chart per feature or pair: full width
_STYLE = (
    "<style>.jp-mlops-eval{border-collapse:collapse;font-family:var(--jp-ui-font-family,"
    "sans-serif);font-size:var(--jp-ui-font-size1,13px);color:var(--jp-ui-font-color1,#222)}"
    ".jp-mlops-eval td,.jp-mlops-eval th{padding:2px 8px;text-align:left;"
    "border-bottom:1px solid var(--jp-border-color2,#ddd)}"
    ".jp-mlops-eval th{background:var(--jp-layout-color2,#eee);font-weight:600}"
    ".jp-mlops-eval .fail{color:var(--jp-error-color1,#c62828);font-weight:600}"
    ".jp-mlops-eval .ok{color:var(--jp-success-color1,#2e7d32)}"
    ".jp-mlops-eval-plots{display:flex;flex-wrap:wrap;gap:8px}"
    ".jp-mlops-eval-plots>div{flex:1 1 300px;max-width:480px}"
    ".jp-mlops-eval-plots>div.jp-mlops-eval-wide{flex-basis:100%;max-width:1100px}"
    ".jp-mlops-eval-section{font-family:var(--jp-ui-font-family,sans-serif);"
    "color:var(--jp-ui-font-color1,#222);font-weight:600;margin:10px 0 4px}</style>"
)


def esc(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    return "" if value is None or value != value else esc(f"{value:.4g}")


def table(head: list[str], rows: list[list[str]]) -> str:
    """A table of already-escaped cells."""
    cells = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<table class='jp-mlops-eval'><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"
    )


def _mark(passed: bool) -> str:
    return "<span class='ok'>✓</span>" if passed else "<span class='fail'>✗</span>"


def metrics_html(report: Any) -> str:
    """Metric, value, the baseline's value, and how it is computed."""
    base = (report.baseline or {}).get("metrics", {})
    rows = [
        [esc(k), _num(v), _num(base.get(k)), esc(report.definitions.get(k, ""))]
        for k, v in report.metrics.items()
    ]
    head = ["metric", "value", f"baseline ({report.baseline['model']})" if base else "baseline",
            "definition"]  # fmt: skip
    if not base:
        rows, head = [[r[0], r[1], r[3]] for r in rows], [head[0], head[1], head[3]]
    notes = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in report.notes.items())
    return table(head, rows) + (f"<ul>{notes}</ul>" if notes else "")


def thresholds_html(report: Any) -> str:
    """One line per threshold with ✓ or ✗."""
    if not report.thresholds:
        return "<p class='jp-mlops-eval'>No thresholds.</p>"
    rows = [[_mark(r["passed"]), esc(r["check"]), esc(r["detail"])] for r in report.thresholds]
    return table(["", "threshold", "value against the bound"], rows)


def fit_html(report: Any) -> str:
    """The fit verdict, training against test, and the learning-curve flags."""
    fit = report.fit or {}
    if not fit:
        return "<p class='jp-mlops-eval'>No fit check.</p>"
    rows = [[esc(r["metric"]), _num(r["train"]), _num(r["test"]), _num(r["gap"])]
            for r in fit.get("metrics", [])]  # fmt: skip
    curves = "".join(f"<li>{esc(c['message'])}</li>" for c in fit.get("curves", []))
    return (
        f"<p class='jp-mlops-eval'><b>{esc(fit['verdict'])}</b>: {esc(fit['reason'])}</p>"
        + (table(["metric", "training", "test", "gap"], rows) if rows else "")
        + (f"<p class='jp-mlops-eval'>Learning curves:</p><ul>{curves}</ul>" if curves else "")
    )


def slices_html(report: Any) -> str:
    """The worst slices first; flagged ones marked."""
    if report.slices.empty:
        return "<p class='jp-mlops-eval'>No slices (pass slices=[column, ...]).</p>"
    rows = []
    for row in report.slices.head(SHOWN_SLICES).to_dict("records"):
        flag = "<span class='fail'>⚠ flagged</span>" if row["flagged"] else ""
        rows.append([esc(row["column"]), esc(row["slice"]), esc(f"{row['rows']:,}"),
                     _num(row["value"]), _num(row["shortfall"]), flag])  # fmt: skip
    metric = report.slices["metric"].iloc[0]
    head = ["column", "slice", "rows", metric, "shortfall", ""]
    more = len(report.slices) - SHOWN_SLICES
    tail = f"<p class='jp-mlops-eval'>… {more} more slices in report.slices</p>"
    return table(head, rows) + (tail if more > 0 else "")


def production_html(report: Any) -> str:
    """The verdict on the test set against production, with the columns that differ."""
    prod = report.production
    if not prod:
        return ""
    cls = "ok" if prod["representative"] else "fail"
    return (
        f"<p class='jp-mlops-eval'><b>Test set against {esc(prod['deployment'])} "
        f"(last {esc(prod['window'])})</b>: "
        f"<span class='{cls}'>{esc(prod['verdict'])}</span></p>"
    )


def plots_html(svgs: dict[str, str]) -> str:
    """The plots side by side (SVG markup from :func:`~.plots.svgs`)."""
    from jupyter_mlops.evaluation.plots import TITLES

    cells = "".join(
        f"<div{' class=jp-mlops-eval-wide' if name in WIDE else ''}>"
        f"<div class='jp-mlops-eval-section'>{esc(TITLES.get(name, name))}</div>{svg}</div>"
        for name, svg in svgs.items()
    )
    return f"<div class='jp-mlops-eval-plots'>{cells}</div>"


def title_html(report: Any) -> str:
    """``Evaluation of MODEL on NAME`` and the verdict on the thresholds."""
    verdict = ""
    if report.thresholds:
        verdict = (
            " — <span class='ok'>passed</span>"
            if report.passed
            else (" — <span class='fail'>FAILED</span>")
        )
    return (
        f"<p class='jp-mlops-eval'><b>Evaluation</b> of {esc(report.model)} on "
        f"{esc(report.name)}: {esc(report.task)}, {report.rows:,} rows{verdict}</p>"
    )


def report_html(report: Any, with_plots: bool = True) -> str:
    """Every section, for the static fallback."""
    from jupyter_mlops.evaluation.plots import svgs

    parts = [_STYLE, title_html(report), metrics_html(report), production_html(report)]
    for title, section in (("Thresholds", thresholds_html), ("Fit", fit_html),
                           ("Slices", slices_html)):  # fmt: skip
        parts += [f"<div class='jp-mlops-eval-section'>{title}</div>", section(report)]
    if with_plots and report.plot_data:
        parts.append(plots_html(svgs(report.plot_data)))
    return "".join(parts)


def style() -> str:
    """The CSS the sections use."""
    return _STYLE
