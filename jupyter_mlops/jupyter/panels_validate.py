"""``ValidationPanel``: a data validation report (``%mlops_validate``) as a widget.

A thin adapter over :class:`~jupyter_mlops.contracts.report.DataValidationReport`: the verdict,
the checks (failed ones, or all), and for a chosen failed check the offending rows of the data.
The static fallback (``text/html`` beside the widget view) holds the verdict, the failed checks
and their example rows, so the notebook reads in nbconvert, on GitHub and in VS Code. Column
names and values are user strings: every one is escaped.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from jupyter_mlops.contracts.report import CheckResult, DataValidationReport
from jupyter_mlops.jupyter.panels import (
    CSS,
    StaticFallback,
    esc,
    format_cell,
    heading,
    html_table,
    note,
)

VALIDATE_CSS = """<style>
.jp-mlops-alert {border-left: 4px solid var(--jp-error-color1, #c00); padding: 4px 8px;
  margin: 4px 0; background: var(--jp-error-color3, #fdd); color: var(--jp-ui-font-color1, #222);}
.jp-mlops-ok {border-left: 4px solid var(--jp-success-color1, #2a2); padding: 4px 8px;
  margin: 4px 0;}
.jp-mlops-table td.jp-mlops-fail {color: var(--jp-error-color1, #c00); font-weight: 600;}
</style>"""
HEAD = ("column", "check", "rule", "result", "failing rows", "share", "examples")
SHOWN_ROWS = 5


def summary_line(report: DataValidationReport) -> str:
    """The verdict as HTML."""
    kind, verdict = ("jp-mlops-ok", "Passed") if report.passed else ("jp-mlops-alert", "Failed")
    text = report.summary().splitlines()[0].split(": ", 1)[1]
    source = f"contract: {report.contract_source} · {report.elapsed_s * 1000:.0f} ms"
    return f'<div class="{kind}"><b>{verdict}</b>: {esc(text)}<br>{note(source)}</div>'


def checks_table(checks: list[CheckResult]) -> str:
    """One row per check, failed rows highlighted."""
    rows = []
    for c in checks:
        examples = ", ".join(f"{e['value']!r} (row {e['index']!r})" for e in c.examples[:3])
        row = [f"<td>{esc(v)}</td>" for v in (c.column, c.check, c.rule)]
        row += ["<td>passed</td>" if c.passed else '<td class="jp-mlops-fail">failed</td>']
        row += [f'<td class="jp-mlops-num">{format_cell(v)}</td>' for v in (c.failed,)]
        row += [f'<td class="jp-mlops-num">{esc(f"{c.failed_share:.2%}")}</td>']
        row += [f"<td>{esc(examples)}</td>"]
        rows.append(row)
    head = [f"<th>{esc(h)}</th>" for h in HEAD]
    return html_table(head, rows)


def example_rows(data: Any, check: CheckResult) -> str:
    """The offending rows of ``data`` for ``check`` as an escaped table ('' without data)."""
    if data is None or not check.examples or check.check == "present":
        return ""
    positions = [e["row"] for e in check.examples][:SHOWN_ROWS]
    try:
        frame = data.iloc[positions]
    except (AttributeError, IndexError):
        return ""
    head = ["<th>row</th>"] + [f"<th>{esc(c)}</th>" for c in frame.columns]
    rows = [
        [f"<td>{esc(label)}</td>"] + [f"<td>{format_cell(v)}</td>" for v in values]
        for label, values in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    return heading(f"{check.column}: {check.rule} — offending rows") + html_table(head, rows)


class ValidationPanel(StaticFallback, widgets.VBox):
    """A data validation report: verdict, checks, offending rows of a chosen check.

    Parameters
    ----------
    report : DataValidationReport
        What ``validate`` returned.
    data : pandas.DataFrame, optional
        The validated data, to show the offending rows.
    title : str
        The panel's heading.
    """

    def __init__(
        self, report: DataValidationReport, data: Any = None, title: str = "Data validation"
    ):
        self.report, self.data, self.title = report, data, title
        self.show_filter = widgets.ToggleButtons(
            options=["Failed", "All"], value="Failed" if report.failures else "All"
        )
        failed = [
            (f"{c.column}: {c.check}", i) for i, c in enumerate(report.checks) if not c.passed
        ]
        self.check_picker = widgets.Dropdown(
            options=failed, description="Check", layout={"width": "32em"}
        )
        self.table_html = widgets.HTML()
        self.rows_html = widgets.HTML()
        super().__init__(
            [
                widgets.HTML(CSS + VALIDATE_CSS + heading(title) + summary_line(report)),
                self.show_filter,
                self.table_html,
                self.check_picker,
                self.rows_html,
            ]
        )
        self.add_class("jp-mlops-panel")
        self.check_picker.layout.display = None if failed else "none"
        self.show_filter.observe(lambda _: self._render_table(), names="value")
        self.check_picker.observe(lambda _: self._render_rows(), names="value")
        self._render_table()
        self._render_rows()

    def _shown_checks(self) -> list[CheckResult]:
        if self.show_filter.value == "Failed":
            return self.report.failures
        return list(self.report.checks)

    def _render_table(self) -> None:
        checks = self._shown_checks()
        self.table_html.value = checks_table(checks) if checks else note("Every check passed.")

    def _render_rows(self) -> None:
        index = self.check_picker.value
        check = None if index is None else self.report.checks[index]
        self.rows_html.value = "" if check is None else example_rows(self.data, check)

    def static_html(self) -> str:
        """Verdict, failed checks and their offending rows, self-contained."""
        failures = self.report.failures
        parts = [CSS, VALIDATE_CSS, '<div class="jp-mlops-panel">', heading(self.title)]
        parts.append(summary_line(self.report))
        parts.append(checks_table(failures) if failures else note("Every check passed."))
        parts += [example_rows(self.data, c) for c in failures[:3]]
        return "".join(parts) + "</div>"
