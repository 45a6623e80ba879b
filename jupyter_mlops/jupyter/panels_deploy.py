"""The deployments panel (``%mlops_deployments``): live status, refreshed every few seconds.

Health, served version, uptime, requests, error rate and p50/p95 latency come from
:func:`jupyter_mlops.serving.deploy.list_deployments`, which checks each server's process and
scrapes its ``/metrics``; a killed server shows as down at the next refresh. A stop button
stops the chosen deployment.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.errors import MlopsError
from jupyter_mlops.jupyter.panels import (
    CSS,
    LiveRefresher,
    StaticFallback,
    error_line,
    esc,
    format_cell,
    format_duration,
    heading,
    html_table,
    note,
)
from jupyter_mlops.serving import deploy

REFRESH_S = 3.0
STATUS_COLORS = {"running": "#2a2", "down": "#d22", "failed": "#d22", "stopped": "#888"}


def deployments_table(found: list[deploy.Deployment]) -> str:
    """Deployments with their live status as an HTML table."""
    if not found:
        return note("No deployments yet: %mlops_deploy models:/NAME@ALIAS")
    head = [
        f"<th>{h}</th>"
        for h in (
            "name",
            "status",
            "model",
            "version",
            "url",
            "uptime",
            "requests",
            "errors",
            "p50",
            "p95",
        )
    ]
    rows = []
    for d in found:
        color = STATUS_COLORS.get(d.status, "#888")
        rate = None if d.error_rate is None else f"{d.error_rate:.1%}"
        rows.append(
            [
                f"<td>{esc(d.name)}</td>",
                f'<td><span style="color:{color}">●</span> {esc(d.status)}</td>',
                f"<td>{esc(d.model_uri)}</td>",
                f"<td>{format_cell(d.version)}</td>",
                f'<td><a href="{esc(d.url)}/health" target="_blank">{esc(d.url)}</a></td>'
                if d.status == "running"
                else f"<td>{esc(d.url)}</td>",
                f"<td>{esc(format_duration(d.uptime_s))}</td>",
                f'<td class="jp-mlops-num">{d.requests}</td>',
                f'<td class="jp-mlops-num">{esc(rate or "")}</td>',
                f'<td class="jp-mlops-num">{_ms(d.p50_ms)}</td>',
                f'<td class="jp-mlops-num">{_ms(d.p95_ms)}</td>',
            ]
        )
    return html_table(head, rows)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} ms"


class DeploymentsPanel(StaticFallback, widgets.VBox):
    """Live status of every local deployment, with a stop action.

    Parameters
    ----------
    live : bool
        Refresh every ``REFRESH_S`` seconds on a background thread until the panel is closed.
    """

    def __init__(self, live: bool = True):
        self._table = widgets.HTML()
        self._choice = widgets.Dropdown(description="Deployment", layout={"width": "22em"})
        self.stop_button = stop = widgets.Button(
            description="Stop", button_style="danger", icon="stop"
        )
        stop.on_click(lambda _: self.stop_selected())
        self._message = widgets.HTML()
        self._lock = threading.Lock()
        self.deployments: list[deploy.Deployment] = []
        # The stop row shows only while something can be stopped (never beside an empty list).
        self.stop_row = widgets.HBox([self._choice, stop])
        super().__init__([self._table, self.stop_row, self._message])
        self.add_class("jp-mlops-panel")
        self.refresh()
        self._refresher = LiveRefresher(self._tick, REFRESH_S) if live else None

    def refresh(self) -> None:
        """Re-check every deployment and redraw."""
        with self._lock:
            self.deployments = deploy.list_deployments()
            self._table.value = CSS + heading("Deployments") + deployments_table(self.deployments)
            running = [d.name for d in self.deployments if d.status in ("running", "down")]
            if list(self._choice.options) != running:
                self._choice.options = running
            self.stop_row.layout.display = None if running else "none"

    def _tick(self) -> bool:
        try:
            self.refresh()
        except Exception as e:  # a store hiccup must not kill the refresher
            self._message.value = error_line(f"refresh failed: {e}")
        return True

    def stop_selected(self) -> None:
        """Stop the deployment chosen in the dropdown."""
        name = self._choice.value
        if not name:
            return
        try:
            deploy.undeploy(name)
            self._message.value = note(f"Stopped {name}.")
        except MlopsError as e:
            self._message.value = error_line(e)
        self.refresh()

    def static_html(self) -> str:
        return CSS + heading("Deployments") + deployments_table(self.deployments)

    def close(self, *args: Any, **kwargs: Any) -> None:
        if self._refresher is not None:
            self._refresher.stop()
        super().close(*args, **kwargs)
