"""Notebook panels for runs: :class:`RunsPanel` (``%mlops_runs``) and :class:`ComparePanel`.

The panels are ipywidgets ``VBox`` subclasses built from stock widgets, thin adapters over
:mod:`jupyter_mlops.viz.compare` (tables) and :mod:`jupyter_mlops.viz.charts` (PNG charts). They
render from the local store: no web server, no iframe, so they work in JupyterLab, Notebook 7
and VS Code.

Every panel also carries a static fallback: its display bundle holds the widget view *and* a
``text/html`` rendering (the table, the charts as embedded base64 PNGs), so nbconvert HTML,
GitHub and any viewer without a widget frontend still show the comparison. Every user string
that goes into HTML (run names, params, tags, experiment names, errors) is escaped here.

This module holds the pieces both panels share; the panels live in
:mod:`~jupyter_mlops.jupyter.panels_runs` and :mod:`~jupyter_mlops.jupyter.panels_compare`.
"""

from __future__ import annotations

import base64
import html
import importlib
import math
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

__all__ = ["ComparePanel", "RunPanel", "RunsPanel"]  # noqa: F822 - loaded on first use by __getattr__

_PANELS = {
    "RunPanel": "jupyter_mlops.jupyter.panels_run",
    "RunsPanel": "jupyter_mlops.jupyter.panels_runs",
    "ComparePanel": "jupyter_mlops.jupyter.panels_compare",
}
MISSING = '<span class="jp-mlops-missing">—</span>'
CSS = """<style>
.jp-mlops-panel {font-family: var(--jp-ui-font-family, sans-serif);
  color: var(--jp-ui-font-color1, #222);}
.jp-mlops-scroll {overflow-x: auto; max-width: 100%;}
.jp-mlops-table {border-collapse: collapse; font-size: var(--jp-ui-font-size1, 13px);
  font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222);}
.jp-mlops-table th, .jp-mlops-table td {padding: 2px 8px; text-align: left; white-space: nowrap;
  border-bottom: 1px solid var(--jp-border-color2, #ddd); max-width: 24em; overflow: hidden;
  text-overflow: ellipsis;}
.jp-mlops-table th {background: var(--jp-layout-color2, #eee); font-weight: 600;}
.jp-mlops-table td.jp-mlops-num {text-align: right; font-variant-numeric: tabular-nums;}
.jp-mlops-table td.jp-mlops-best {font-weight: 700; background: rgba(40, 160, 40, 0.2);}
.jp-mlops-table th.jp-mlops-differs {background: rgba(230, 160, 0, 0.25);}
.jp-mlops-missing {color: var(--jp-ui-font-color3, #999);}
.jp-mlops-error {color: var(--jp-error-color1, #c00); font-family: var(--jp-code-font-family,
  monospace); white-space: pre-wrap; margin: 2px 0;}
.jp-mlops-note {color: var(--jp-ui-font-color2, #555); font-size: var(--jp-ui-font-size1, 13px);}
a.jp-mlops-run-link {color: var(--jp-content-link-color, #1976d2); text-decoration: none;}
a.jp-mlops-run-link:hover {text-decoration: underline;}
.jp-mlops-heading {font-weight: 600; font-size: var(--jp-ui-font-size2, 15px); margin: 8px 0 2px;}
</style>"""


def __getattr__(name: str) -> Any:
    module = _PANELS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


# -- HTML --------------------------------------------------------------------------------------
def esc(value: Any) -> str:
    """``value`` as text that is safe inside HTML elements and attributes."""
    return html.escape(str(value), quote=True)


def format_cell(value: Any, limit: int = 60) -> str:
    """One table cell as escaped HTML: numbers to 4 significant digits, ``—`` when missing.

    ``None`` is missing; a NaN float is shown as ``NaN`` (the run logged it); long text is cut
    to ``limit`` characters with the whole value in a tooltip.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return esc(value)
    if isinstance(value, (int, float)):
        return "NaN" if isinstance(value, float) and math.isnan(value) else f"{value:.4g}"
    if isinstance(value, datetime):
        return esc(format_time(value))
    text = str(value)
    if len(text) <= limit:
        return esc(text)
    return f'<span title="{esc(text)}">{esc(text[: limit - 1])}…</span>'


def format_time(value: Any) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS``; ``""`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if not isinstance(value, datetime):
            value = datetime.fromtimestamp(float(value) / 1000.0, tz=timezone.utc)
        elif hasattr(value, "to_pydatetime"):  # a pandas Timestamp
            value = value.to_pydatetime()
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):  # NaT, out of range
        return ""


def format_duration(seconds: Any) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 01 min``; ``""`` when missing."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def html_table(
    head: Sequence[str], rows: Sequence[Sequence[str]], head2: Sequence[str] = ()
) -> str:
    """A table from cells that are already HTML; ``head2`` is an optional second header row."""
    parts = ['<div class="jp-mlops-scroll"><table class="jp-mlops-table"><thead>']
    for header in (head, head2):
        if header:
            parts.append("<tr>" + "".join(header) + "</tr>")
    parts.append("</thead><tbody>")
    parts.extend("<tr>" + "".join(row) + "</tr>" for row in rows)
    parts.append("</tbody></table></div>")
    return "".join(parts)


RUN_LINK_PREFIX = "#jupyter-mlops/run/"
"""Links to a run page start so: the JupyterLab extension opens the run's tab on a click."""


def run_link(run_id: str, name: Any = None) -> str:
    """A link to the run page of ``run_id`` (escaped); ``%mlops_run`` shows the same page."""
    label = esc(name) if name else esc(str(run_id)[:8])
    return (
        f'<a class="jp-mlops-run-link" href="{RUN_LINK_PREFIX}{esc(run_id)}" '
        f'title="Open the run page of {esc(run_id)} (or: %mlops_run {esc(run_id)})">{label}</a>'
    )


def png_img(png: bytes | None, alt: str) -> str:
    """An ``<img>`` with the PNG embedded as base64 (``""`` when there is no PNG)."""
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}" style="max-width:100%">'


def heading(text: str) -> str:
    """A section heading (escaped)."""
    return f'<div class="jp-mlops-heading">{esc(text)}</div>'


def note(text: str) -> str:
    """A quiet one-line message (escaped)."""
    return f'<div class="jp-mlops-note">{esc(text)}</div>'


def error_line(error: BaseException | str) -> str:
    """An inline error message (escaped)."""
    return f'<div class="jp-mlops-error">{esc(error)}</div>'


# -- panel behaviour ---------------------------------------------------------------------------
class StaticFallback:
    """Adds ``text/html`` (from :meth:`static_html`) to a widget's display bundle.

    Frontends with a widget manager render the widget view; nbconvert, GitHub and other
    viewers fall back to the HTML, which holds the tables and the charts as embedded PNGs.
    """

    def static_html(self) -> str:
        """The panel as self-contained HTML."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        data["text/html"] = self.static_html()
        return data


class LiveRefresher:
    """Calls ``tick`` every ``interval`` seconds on a daemon thread, until it returns False.

    ipykernel sends comm messages from any thread, so a tick can update widgets while the
    kernel runs other cells; the thread never blocks the kernel.
    """

    def __init__(self, tick: Callable[[], bool], interval: float):
        self.interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jupyter-mlops-live", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._tick():
                break

    @property
    def alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop; wait up to ``timeout`` seconds for it (not from itself)."""
        self._stop.set()
        if timeout is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
