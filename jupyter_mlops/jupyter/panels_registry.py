"""The registry panel (``%mlops_models``): models, versions, lineage, alias history, promote.

``ModelsPanel()`` lists registered models; ``ModelsPanel("churn")`` shows one model: its
versions with aliases and headline metrics, the lineage and validation reports of a chosen
version, the alias history, and a promote form that runs the validation gate. Everything is
read from the registry core; every user string is escaped.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from jupyter_mlops.errors import MlopsError
from jupyter_mlops.evaluation.thresholds import thresholds_from_json
from jupyter_mlops.jupyter.panels import (
    CSS,
    StaticFallback,
    error_line,
    esc,
    format_cell,
    format_time,
    heading,
    html_table,
    note,
    run_link,
)
from jupyter_mlops.registry import gate, registry

HEADLINE_METRICS = 3


def models_table() -> str:
    """Every registered model as an HTML table."""
    models = registry.search_models()
    if not models:
        return note("No registered models yet: %mlops_register MODEL -n NAME")
    head = [f"<th>{h}</th>" for h in ("model", "latest", "versions", "aliases", "updated")]
    rows = [
        [
            f"<td>{esc(m.name)}</td>",
            f"<td>{format_cell(m.latest_version)}</td>",
            f"<td>{len(m.versions)}</td>",
            f"<td>{esc(aliases_text(m.aliases))}</td>",
            f"<td>{esc(format_time(m.last_updated))}</td>",
        ]
        for m in models
    ]
    return html_table(head, rows)


def aliases_text(aliases: dict[str, int]) -> str:
    """``production→v2, staging→v3``."""
    return ", ".join(f"{a}→v{v}" for a, v in sorted(aliases.items()))


def versions_table(name: str) -> str:
    """Versions of ``name`` with status, aliases, run and headline metrics."""
    versions = registry.list_versions(name)
    metrics = sorted({k for v in versions for k in v.lineage.get("metrics", {})})[:HEADLINE_METRICS]
    head = [f"<th>{esc(h)}</th>" for h in ("version", "status", "aliases", "run", *metrics)]
    head.append("<th>registered</th>")
    rows = []
    for v in reversed(versions):
        cells = [
            f"<td>v{v.version}</td>",
            f"<td>{esc(v.status)}</td>",
            f"<td>{esc(', '.join(v.aliases))}</td>",
            f"<td>{esc(v.lineage.get('run_name') or v.run_id[:8])}</td>",
        ]
        cells += [
            f'<td class="jp-mlops-num">{format_cell(v.lineage.get("metrics", {}).get(m))}</td>'
            for m in metrics
        ]
        cells.append(f"<td>{esc(format_time(v.creation_time))}</td>")
        rows.append(cells)
    return html_table(head, rows)


LINEAGE_CSS = """<style>
.jp-mlops-table.jp-mlops-wrap td {white-space: normal; max-width: none; overflow-wrap: anywhere;}
</style>"""


def lineage_html(version: registry.ModelVersion) -> str:
    """Where a version came from, as a two-column table."""
    lineage = version.lineage
    datasets = "; ".join(
        f"{d.get('name')} ({d.get('context')}, {d.get('rows')} rows, {d.get('digest')})"
        for d in lineage.get("datasets", [])
    )
    pairs = [
        ("run", f"{lineage.get('run_name')} ({version.run_id})"),
        ("source", version.source),
        ("sha256", version.sha256),
        ("notebook", lineage.get("notebook")),
        ("git commit", lineage.get("git_commit")),
        ("datasets", datasets or None),
        ("params", ", ".join(f"{k}={v}" for k, v in sorted(lineage.get("params", {}).items()))),
        (
            "metrics",
            ", ".join(
                f"{k}={v:.4g}"
                for k, v in sorted(lineage.get("metrics", {}).items())
                if isinstance(v, (int, float))
            ),
        ),
        (
            "libraries",
            ", ".join(f"{k} {v}" for k, v in lineage.get("library_versions", {}).items()),
        ),
    ]
    # Values wrap at the panel's width instead of being cut at a fixed length.
    rows = [[f"<th>{esc(k)}</th>", f"<td>{format_cell(v or None, 5000)}</td>"] for k, v in pairs]
    rows[0][1] = (
        f"<td>{run_link(version.run_id, lineage.get('run_name'))} ({esc(version.run_id)})</td>"
    )
    table = html_table([], rows)
    return LINEAGE_CSS + table.replace(
        'class="jp-mlops-table"', 'class="jp-mlops-table jp-mlops-wrap"', 1
    )


def _items(text: str) -> list[str]:
    """``"a>=1; b>=2"`` or ``"a>=1, b>=2"`` -> ``["a>=1", "b>=2"]``."""
    return [c.strip() for c in text.replace(";", ",").split(",") if c.strip()]


def evaluation_html(version: registry.ModelVersion) -> str:
    """The latest evaluation report stored with a version (``mlops.evaluate`` on its URI)."""
    from jupyter_mlops.evaluation.html import report_html
    from jupyter_mlops.evaluation.record import stored_evaluations
    from jupyter_mlops.evaluation.report import EvaluationReport

    stored = stored_evaluations(version.name, version.version)
    if not stored:
        return note(f"Not evaluated yet: mlops.evaluate('{version.uri}', X_test, y_test).")
    return report_html(EvaluationReport.from_dict(stored[-1]), with_plots=False)


def validations_html(version: registry.ModelVersion) -> str:
    """The validation reports stored with a version, newest first."""
    if not version.validations:
        return note("No validation yet.")
    head = [f"<th>{h}</th>" for h in ("when", "alias", "result", "checks")]
    rows = []
    for report in reversed(version.validations):
        result = "forced" if report.get("forced") else ("passed" if report["passed"] else "refused")
        checks = "; ".join(
            f"{'✓' if c['passed'] else '✗'} {c['check']}: {c['detail']}" for c in report["checks"]
        )
        rows.append(
            [
                f"<td>{esc(format_time(report['time']))}</td>",
                f"<td>{esc(report['alias'])}</td>",
                f"<td>{esc(result)}</td>",
                f"<td>{format_cell(checks or 'no checks', 200)}</td>",
            ]
        )
    return html_table(head, rows)


def history_html(name: str) -> str:
    """Every alias move of ``name``, newest first."""
    moves = registry.alias_history(name)
    if not moves:
        return note("No alias has been set yet.")
    head = [f"<th>{h}</th>" for h in ("when", "alias", "from", "to", "who", "why")]
    rows = [
        [
            f"<td>{esc(format_time(m['time']))}</td>",
            f"<td>{esc(m['alias'])}</td>",
            f"<td>{_v(m['from_version'])}</td>",
            f"<td>{_v(m['to_version'])}</td>",
            f"<td>{esc(m['user'])}</td>",
            f"<td>{esc(('forced: ' if m.get('forced') else '') + (m.get('reason') or ''))}</td>",
        ]
        for m in reversed(moves)
    ]
    return html_table(head, rows)


def _v(version: int | None) -> str:
    return "—" if version is None else f"v{version}"


class ModelsPanel(StaticFallback, widgets.VBox):
    """The registry panel: every model, or one model in detail with a promote form.

    Parameters
    ----------
    name : str, optional
        Show this model in detail.
    user_ns : dict, optional
        Where the promote form looks up its evaluation data variables (the notebook namespace).
    """

    def __init__(self, name: str | None = None, user_ns: dict[str, Any] | None = None):
        self.name = name
        self.user_ns = user_ns if user_ns is not None else {}
        if name is not None:
            registry.list_versions(name)  # unknown name: NotFound before anything is shown
        self._body = widgets.HTML()
        self._version = widgets.Dropdown(description="Version", layout={"width": "14em"})
        self._detail = widgets.HTML()
        self._message = widgets.HTML()
        form = self._promote_form() if name else widgets.VBox()
        self._version.observe(lambda _: self._show_version(), names="value")
        picker = widgets.HBox([self._version]) if name else widgets.VBox()
        super().__init__(
            [self._body, picker, self._detail, form, self._message],
            layout={"width": "100%"},
        )
        self.add_class("jp-mlops-panel")
        self.refresh()

    # -- rendering ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the registry and redraw."""
        if self.name is None:
            self._body.value = CSS + heading("Registered models") + models_table()
            return
        versions = registry.list_versions(self.name)
        self._body.value = (
            CSS
            + heading(f"Model {self.name}")
            + versions_table(self.name)
            + heading("Alias history")
            + history_html(self.name)
        )
        options = [(f"v{v.version}", v.version) for v in reversed(versions)]
        current = self._version.value
        self._version.options = options
        self._version.value = current if current in dict(options).values() else options[0][1]
        self._show_version()

    def _show_version(self) -> None:
        if self.name is None or self._version.value is None:
            return
        version = registry.get_model_version(self.name, self._version.value)
        self._detail.value = (
            heading(f"Lineage of v{version.version}")
            + lineage_html(version)
            + heading("Validation reports")
            + validations_html(version)
            + heading("Latest evaluation")
            + evaluation_html(version)
        )

    def static_html(self) -> str:
        if self.name is None:
            return CSS + heading("Registered models") + models_table()
        latest = registry.list_versions(self.name)[-1]
        return (
            CSS
            + heading(f"Model {self.name}")
            + versions_table(self.name)
            + heading(f"Lineage of v{latest.version}")
            + lineage_html(latest)
            + heading(f"Latest evaluation of v{latest.version}")
            + evaluation_html(latest)
            + heading("Alias history")
            + history_html(self.name)
        )

    # -- promote ------------------------------------------------------------------------------
    def _promote_form(self) -> widgets.Widget:
        self._alias = widgets.Text(description="Alias", placeholder="production")
        self._checks = widgets.Text(
            description="Checks", placeholder="accuracy>=0.9; f1>=current-0.01"
        )
        self._thresholds = widgets.Text(
            description="Thresholds", placeholder="f1 >= baseline + 0.01; roc_auc >= 0.8"
        )
        self._x_var = widgets.Text(description="X var", placeholder="X_test (optional)")
        self._y_var = widgets.Text(description="y var", placeholder="y_test (optional)")
        self._force = widgets.Checkbox(description="force", indent=False, layout={"width": "6em"})
        self._reason = widgets.Text(description="Reason", placeholder="why (needed with force)")
        button = widgets.Button(description="Promote", button_style="primary", icon="arrow-up")
        button.on_click(lambda _: self.promote())
        return widgets.VBox(
            [
                widgets.HTML(heading("Promote through the validation gate")),
                widgets.HBox([self._alias, self._checks]),
                widgets.HBox([self._thresholds]),
                widgets.HBox([self._x_var, self._y_var]),
                widgets.HBox([self._force, self._reason, button]),
            ]
        )

    def promote(self) -> gate.ValidationReport | None:
        """Run the gate for the chosen version with the form's values; show the outcome."""
        if self.name is None:
            return None
        try:
            report = gate.promote(
                self.name,
                self._version.value,
                self._alias.value.strip(),
                checks=_items(self._checks.value),
                data=self._data(),
                force=self._force.value,
                reason=self._reason.value or None,
                thresholds=thresholds_from_json(_items(self._thresholds.value)),
            )
        except MlopsError as e:
            self._message.value = error_line(e)
            self.refresh()
            return None
        verb = "forced to" if report.forced else "promoted to"
        self._message.value = (
            f'<div class="jp-mlops-note">v{report.version} {verb} {esc(report.alias)}<br>'
            f"{esc(report.summary()).replace(chr(10), '<br>')}</div>"
        )
        self.refresh()
        return report

    def _data(self) -> tuple[Any, Any] | None:
        x_name, y_name = self._x_var.value.strip(), self._y_var.value.strip()
        if not x_name and not y_name:
            return None
        missing = [n or "(empty)" for n in (x_name, y_name) if n not in self.user_ns]
        if missing:
            from jupyter_mlops.errors import InvalidInput

            raise InvalidInput(f"No variable named {missing[0]!r} in the notebook.")
        return self.user_ns[x_name], self.user_ns[y_name]
