"""The run page in a notebook (``%mlops_run RUN_ID``): one run whole, as a panel.

A thin adapter over :func:`jupyter_mlops.viz.run_page.run_page` (the sidebar's run tab shows
the same data): attributes, params, metrics with their charts, tags, the cell's code, git commit
and diff, environment, datasets, artifacts with previews, and the parent and child runs. Charts
are themed SVG (:mod:`jupyter_mlops.viz.theme`), so they follow JupyterLab's light and dark
themes. The static fallback is the same HTML, so the page reads in nbconvert and on GitHub.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.jupyter.panels import (
    CSS,
    MISSING,
    StaticFallback,
    esc,
    format_cell,
    format_duration,
    format_time,
    heading,
    html_table,
    note,
    run_link,
)

DEFAULT_CHARTS = 6
IMAGE_PREVIEW_BYTES = 2_000_000
RUN_CSS = """<style>
.jp-mlops-run-head {display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline;}
.jp-mlops-run-title {font-size: var(--jp-ui-font-size3, 18px); font-weight: 600;}
.jp-mlops-kv {display: grid; grid-template-columns: max-content 1fr; gap: 1px 12px;
  font-size: var(--jp-ui-font-size1, 13px);}
.jp-mlops-kv > :nth-child(odd) {color: var(--jp-ui-font-color2, #616161);}
.jp-mlops-code {font-family: var(--jp-code-font-family, monospace); font-size:
  var(--jp-code-font-size, 13px); background: var(--jp-layout-color2, #eee); color:
  var(--jp-content-font-color1, #222); padding: 6px 8px; max-height: 24em; overflow: auto;
  white-space: pre; border-radius: 2px; margin: 2px 0;}
.jp-mlops-artifact {margin: 4px 0;}
.jp-mlops-artifact img {max-width: 100%; max-height: 320px; display: block;}
.jp-mlops-status-FINISHED {color: var(--jp-success-color1, #388e3c);}
.jp-mlops-status-FAILED, .jp-mlops-status-KILLED {color: var(--jp-error-color1, #d32f2f);}
.jp-mlops-status-RUNNING {color: var(--jp-brand-color1, #1976d2);}
</style>"""


class RunPanel(StaticFallback, widgets.VBox):
    """The run page of one run.

    Parameters
    ----------
    run : str
        A run id, a unique id prefix or a unique run name.
    charts : list of str, optional
        The metrics to chart (default: the first few that have more than one point).

    Raises
    ------
    NotFound
        No such run.
    InvalidInput
        ``run`` names several runs.
    """

    def __init__(self, run: str, charts: Sequence[str] | None = None):
        from jupyter_mlops.viz.compare import load_runs
        from jupyter_mlops.viz.run_page import run_page

        self.run_id = load_runs([run])[0]["run_id"]
        self.page = run_page(self.run_id)
        keys = list(self.page["histories"])
        self.metric_picker = widgets.SelectMultiple(
            options=keys,
            value=_default_charts(self.page, charts),
            rows=min(6, max(2, len(keys))),
            description="Charts",
        )
        self.charts_html = widgets.HTML()
        self.top_html = widgets.HTML(CSS + RUN_CSS + self._top_html())
        self.rest_html = widgets.HTML(self._rest_html())
        children: list[widgets.Widget] = [self.top_html]
        if keys:
            children += [self.metric_picker, self.charts_html]
        super().__init__(children + [self.rest_html], layout=widgets.Layout(width="100%"))
        self.add_class("jp-mlops-panel")
        self.metric_picker.observe(lambda _: self._render_charts(), names="value")
        self._render_charts()

    # -- pieces --------------------------------------------------------------------------------
    def _top_html(self) -> str:
        page, run = self.page, self.page["run"]
        parts = [_head(run, page.get("parent")), heading("Metrics"), _metrics_table(run)]
        return "".join(parts)

    def _rest_html(self) -> str:
        page, run = self.page, self.page["run"]
        parts = [
            _section("Params", _kv(run["params"])),
            _section("Tags", _kv({k: v for k, v in run["tags"].items() if k != "mlops.error"})),
            _code_section(page.get("code")),
            _git_section(page.get("git")),
            _environment_section(page.get("environment")),
            _section("Datasets", _datasets(page["datasets"])),
            _section("Artifacts", _artifacts(self.run_id, page["artifacts"])),
            _section("Child runs", _children(page["children"])),
        ]
        for name, value in page.get("sections", {}).items():
            parts.append(_section(name, _kv(value) if isinstance(value, dict) else esc(value)))
        return "".join(p for p in parts if p)

    def _render_charts(self) -> None:
        self.charts_html.value = self._charts_html()

    def _charts_html(self) -> str:
        from jupyter_mlops.viz.charts import metric_history_figure
        from jupyter_mlops.viz.theme import figure_to_svg

        chosen = list(self.metric_picker.value)
        if not chosen:
            return note("Pick metrics above to chart them.")
        label = self.page["run"]["run_name"] or self.run_id[:8]
        data = {m: (h["step"], h["value"]) for m, h in self.page["histories"].items()}
        figure = metric_history_figure({label: data}, chosen, columns=3)
        return figure_to_svg(figure)

    def static_html(self) -> str:
        """The whole page as HTML (charts as themed inline SVG)."""
        return (
            f'<div class="jp-mlops-panel">{self.top_html.value}{self.charts_html.value}'
            f"{self.rest_html.value}</div>"
        )

    def __repr__(self) -> str:
        run = self.page["run"]
        return f"<RunPanel {run['run_name']} ({self.run_id[:8]}, {run['status']})>"


def _default_charts(page: dict[str, Any], wanted: Sequence[str] | None) -> list[str]:
    keys = list(page["histories"])
    if wanted:
        return [k for k in wanted if k in keys]
    curves = [k for k in keys if len(page["histories"][k]["step"]) > 1]
    return (curves or keys)[:DEFAULT_CHARTS]


# -- HTML ------------------------------------------------------------------------------------
def _head(run: dict[str, Any], parent: dict[str, Any] | None) -> str:
    status = esc(run["status"])
    facts = [
        f'<span class="jp-mlops-status-{status}">● {status}</span>',
        f"experiment <b>{esc(run['experiment'])}</b>",
        f"started {esc(format_time(run['start_time']))}",
        esc(format_duration(run["duration_s"])),
        f'<code title="{esc(run["uri"])}">{esc(run["run_id"])}</code>',
    ]
    if parent:
        facts.append(f"child of {run_link(parent['run_id'], parent.get('run_name'))}")
    title = esc(run["run_name"] or run["run_id"][:8])
    error = run["tags"].get("mlops.error")
    failure = f'<div class="jp-mlops-error">{esc(error)}</div>' if error else ""
    return (
        f'<div class="jp-mlops-run-head"><span class="jp-mlops-run-title">{title}</span>'
        + "".join(f"<span>{f}</span>" for f in facts if f)
        + f"</div>{failure}"
    )


def _metrics_table(run: dict[str, Any]) -> str:
    metrics = run["metrics"]
    if not metrics:
        return note("No metrics.")
    head = [f"<th>{h}</th>" for h in ("metric", "last", "min", "max", "steps")]
    rows = [
        [f"<td>{esc(key)}</td>"]
        + [f'<td class="jp-mlops-num">{format_cell(m.get(s))}</td>' for s in ("last", "min", "max")]
        + [f'<td class="jp-mlops-num">{format_cell(m.get("count"))}</td>']
        for key, m in sorted(metrics.items())
    ]
    return html_table(head, rows)


def _section(title: str, body: str) -> str:
    return f"{heading(title)}{body}" if body else ""


def _kv(mapping: dict[str, Any]) -> str:
    if not mapping:
        return ""
    cells = "".join(
        f"<span>{esc(k)}</span><span>{format_cell(v, 200)}</span>"
        for k, v in sorted(mapping.items())
    )
    return f'<div class="jp-mlops-kv">{cells}</div>'


def _pre(text: str, truncated: bool = False) -> str:
    more = note("… cut here (the whole file is an artifact of the run)") if truncated else ""
    return f'<pre class="jp-mlops-code">{esc(text)}</pre>{more}'


def _code_section(code: dict[str, Any] | None) -> str:
    if not code:
        return ""
    return _section(f"Code ({code['path']})", _pre(code["text"], code["truncated"]))


def _git_section(git: dict[str, Any] | None) -> str:
    if not git:
        return ""
    facts = {k: v for k, v in git.items() if k != "diff"}
    diff = git.get("diff")
    body = _kv(facts) + (_pre(diff["text"], diff["truncated"]) if diff else "")
    return _section("Git", body)


def _environment_section(env: dict[str, Any] | None) -> str:
    if not env:
        return ""
    facts = {k: v for k, v in env.items() if k != "requirements"}
    requirements = env.get("requirements")
    packages = ""
    if requirements:
        count = len(requirements["text"].splitlines())
        packages = (
            f"<details><summary>{count} packages</summary>"
            f"{_pre(requirements['text'], requirements['truncated'])}</details>"
        )
    return _section("Environment", _kv(facts) + packages)


def _datasets(datasets: list[dict[str, Any]]) -> str:
    if not datasets:
        return ""
    keys = ["name", "context", "rows", "columns", "digest"]
    head = [f"<th>{k}</th>" for k in keys]
    rows = [[f"<td>{format_cell(_short(d.get(k)))}</td>" for k in keys] for d in datasets]
    return html_table(head, rows)


def _short(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(map(str, value[:8])) + (" …" if len(value) > 8 else "")
    return value


def _artifacts(run_id: str, artifacts: list[dict[str, Any]]) -> str:
    if not artifacts:
        return ""
    head = [f"<th>{h}</th>" for h in ("path", "size", "preview")]
    rows, previews = [], []
    for artifact in artifacts:
        preview = artifact.get("preview") or {}
        kind = preview.get("kind", "")
        rows.append(
            [
                f"<td>{esc(artifact['path'])}</td>",
                f'<td class="jp-mlops-num">{_size(artifact.get("size"))}</td>',
                f"<td>{esc(kind) or MISSING}</td>",
            ]  # fmt: skip
        )
        rendered = _PREVIEWS.get(kind, lambda *_: "")(run_id, artifact, preview)
        if rendered:
            previews.append(f'<div class="jp-mlops-artifact"><b>{esc(artifact["path"])}</b>'
                            f"{rendered}</div>")  # fmt: skip
    return html_table(head, rows) + "".join(previews[:12])


def _size(size: Any) -> str:
    if not isinstance(size, (int, float)):
        return MISSING
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return MISSING


def _image_preview(run_id: str, artifact: dict[str, Any], preview: dict[str, Any]) -> str:
    from jupyter_mlops.store import get_store

    if (artifact.get("size") or 0) > IMAGE_PREVIEW_BYTES or preview["mime"] == "image/svg+xml":
        return ""  # SVG could carry script: never inlined
    try:
        with open(get_store().artifact_file(run_id, artifact["path"]), "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
    except (OSError, LookupError):
        return ""
    return f'<img src="data:{preview["mime"]};base64,{data}" alt="{esc(artifact["path"])}">'


def _text_preview(run_id: str, artifact: dict[str, Any], preview: dict[str, Any]) -> str:
    if artifact["path"] in ("code/cell.py", "git/diff.patch", "environment/requirements.txt"):
        return ""  # shown in their own sections
    return _pre(preview["text"], preview["truncated"])


def _table_preview(run_id: str, artifact: dict[str, Any], preview: dict[str, Any]) -> str:
    head = [f"<th>{esc(c)}</th>" for c in preview["columns"]]
    rows = [[f"<td>{format_cell(c)}</td>" for c in row] for row in preview["rows"]]
    return html_table(head, rows)


def _model_preview(run_id: str, artifact: dict[str, Any], preview: dict[str, Any]) -> str:
    if not artifact["path"].endswith(("MLmodel", ".pkl", ".joblib", ".pt", ".pt2")):
        return ""
    uri = f"runs:/{run_id}/{preview['model']}"
    return note(f"model — load it with mlops.load_model({uri!r}) or register it with "
                f"%mlops_register {uri}")  # fmt: skip


_PREVIEWS: dict[str, Callable[[str, dict[str, Any], dict[str, Any]], str]] = {
    "image": _image_preview,
    "text": _text_preview,
    "table": _table_preview,
    "model": _model_preview,
}


def _children(children: list[dict[str, Any]]) -> str:
    if not children:
        return ""
    keys = sorted({k for c in children for k in c["metrics"]})[:6]
    head = [f"<th>{h}</th>" for h in ("run", "status", "started")] + [
        f"<th>{esc(k)}</th>" for k in keys
    ]
    rows = [
        [
            f"<td>{run_link(c['run_id'], c['run_name'])}</td>",
            f"<td>{esc(c['status'])}</td>",
            f"<td>{esc(format_time(c['start_time']))}</td>",
        ]  # fmt: skip
        + [f'<td class="jp-mlops-num">{format_cell(c["metrics"].get(k))}</td>' for k in keys]
        for c in children
    ]
    return html_table(head, rows)
