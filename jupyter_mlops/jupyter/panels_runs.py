"""The runs panel (``%mlops_runs``): pick experiments, filter, sort, page, select, compare.

The store is read once (:func:`~jupyter_mlops.tracking.fluent.find_runs`) and cached; the
experiment selector and the filter box narrow the cached runs, and only the visible page is
rendered to HTML, so the panel stays fast with 10,000 runs. *Refresh* reads the store again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import ipywidgets as widgets

from jupyter_mlops.errors import FilterError, InvalidInput, NotFound
from jupyter_mlops.jupyter.panels import (
    CSS,
    MISSING,
    StaticFallback,
    error_line,
    esc,
    format_cell,
    format_duration,
    html_table,
    run_link,
)
from jupyter_mlops.viz import compare

PAGE_SIZE = 50
AS_LOADED = "as loaded"  # the sort choice that keeps order_by's order (newest first by default)
DEFAULT_PARAMS = 5
DEFAULT_METRICS = 3
ROW_PX = 26  # every row of the page is this tall, so the check boxes beside it line up
_CHECK_LAYOUT = dict(width="24px", height=f"{ROW_PX}px", margin="0", padding="0")
RUNS_CSS = f"""<style>
table.jp-mlops-table.jp-mlops-runs-page {{border-collapse: separate; border-spacing: 0;}}
table.jp-mlops-table.jp-mlops-runs-page tr {{height: {ROW_PX}px;}}
table.jp-mlops-table.jp-mlops-runs-page th, table.jp-mlops-table.jp-mlops-runs-page td {{
  height: {ROW_PX}px; box-sizing: border-box; padding-top: 0; padding-bottom: 0;
  line-height: {ROW_PX - 2}px; white-space: nowrap;}}
.jp-mlops-checks .widget-checkbox, .jp-mlops-checks .widget-inline-hbox {{height: {ROW_PX}px;
  min-height: 0;}}
.jp-mlops-nested {{color: var(--jp-ui-font-color3, #999);}}
</style>"""
_FIXED = [
    ("run_name", "name"),
    ("experiment", "experiment"),
    ("status", "status"),
    ("start_time", "start"),
    ("duration_s", "duration"),
]


class RunsPanel(StaticFallback, widgets.VBox):
    """A table of runs with an experiment selector, a filter box, sorting, paging and selection.

    Parameters
    ----------
    experiments : str or list of str, optional
        Experiment names selected at first (default: every experiment).
    filter : str, optional
        A filter in the ``search_runs`` dialect, e.g. ``"metrics.acc > 0.9"``.
    order_by : str or list of str, optional
        The initial order, e.g. ``"metrics.acc DESC"`` (default: newest first).
    max_results : int, optional
        Show at most this many runs.
    params, metrics : list of str, optional
        The param and metric columns (default: a few of each; change them under *Columns*).
    page_size : int
        Rows per page.

    Raises
    ------
    FilterError
        ``filter`` or ``order_by`` does not parse (typing a bad filter into the panel's box
        instead shows the error under it).
    NotFound
        An experiment does not exist.
    InvalidInput
        ``max_results`` is not a non-negative integer.
    """

    def __init__(
        self,
        experiments: str | Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - MLflow's name
        order_by: str | Sequence[str] | None = None,
        max_results: int | None = None,
        *,
        params: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        page_size: int = PAGE_SIZE,
    ):
        from jupyter_mlops.tracking.search import compile_filter

        self._order_by = (
            order_by if order_by is None or isinstance(order_by, str) else list(order_by)
        )
        if max_results is not None and (not isinstance(max_results, int) or max_results < 0):
            raise InvalidInput(f"max_results must be a non-negative integer, not {max_results!r}.")
        self._max_results, self.page_size = max_results, page_size
        self._predicate = compile_filter(filter)
        self._load()
        chosen = self._check_experiments(experiments)
        self._initial = chosen
        self._table = compare.runs_table([])
        self._page, self._syncing = 0, False
        self._selected: list[str] = []
        self.compare_panel: Any = None
        self._hint = f"{filter} {order_by}"
        self._build(filter or "", chosen, params, metrics, self._hint)
        super().__init__(children=self._layout(), layout=widgets.Layout(width="100%"))
        self.add_class("jp-mlops-panel")
        self._wire()
        self._apply()

    # -- data ----------------------------------------------------------------------------------
    def _load(self) -> None:
        """Read every run once (ordered by ``order_by``) and the experiments with run counts."""
        from jupyter_mlops.store import get_store
        from jupyter_mlops.tracking import fluent

        self._runs = fluent.find_runs(order_by=self._order_by)
        self._by_id = {run["run_id"]: run for run in self._runs}
        self._experiments = {
            e["name"]: e.get("run_count", 0) for e in get_store().list_experiments()
        }

    def _check_experiments(self, experiments: str | Sequence[str] | None) -> list[str]:
        if experiments is None:
            return list(self._experiments)
        wanted = [experiments] if isinstance(experiments, str) else list(experiments)
        for name in wanted:
            if name not in self._experiments:
                known = ", ".join(sorted(self._experiments)) or "none yet"
                raise NotFound(f"No experiment named {name!r} (experiments: {known}).")
        return wanted

    def _matching(self) -> list[dict[str, Any]]:
        chosen, keep = set(self.experiment_select.value), self._predicate
        rows = [run for run in self._runs if run.get("experiment") in chosen and keep(run)]
        return rows if self._max_results is None else rows[: self._max_results]

    # -- widgets -------------------------------------------------------------------------------
    def _build(self, text: str, chosen: list[str], params: Any, metrics: Any, hint: str) -> None:
        self.title_html = widgets.HTML()
        self.experiment_select = widgets.SelectMultiple(
            options=self._experiment_options(),
            value=chosen,
            rows=min(4, max(2, len(self._experiments))),
            description="Experiments",
            style={"description_width": "initial"},
        )
        self.filter_text = widgets.Text(
            value=text,
            placeholder="metrics.acc > 0.9 and params.model = 'rf'",
            description="Filter",
            continuous_update=False,
            layout=widgets.Layout(width="50%"),
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.error_html = widgets.HTML()
        self._build_columns(params, metrics, hint)
        self._build_sorting()
        self.table_html = widgets.HTML()
        self._build_pager()
        self._build_selection()
        self.compare_area = widgets.VBox()

    def _chosen_runs(self, chosen: Sequence[str]) -> list[dict[str, Any]]:
        wanted = set(chosen)
        return [run for run in self._runs if run.get("experiment") in wanted]

    def _build_columns(self, params: Any, metrics: Any, hint: str) -> None:
        own = self._chosen_runs(self._initial)  # the experiments' own keys, not the store's
        all_params, all_metrics = compare.param_keys(own), compare.metric_keys(own)
        self.param_select = widgets.SelectMultiple(
            options=all_params,
            value=_defaults(params, all_params, DEFAULT_PARAMS, hint, "params."),
            rows=4,
            description="Params",
        )
        self.metric_select = widgets.SelectMultiple(
            options=all_metrics,
            value=_defaults(metrics, all_metrics, DEFAULT_METRICS, hint, "metrics."),
            rows=4,
            description="Metrics",
        )
        self.columns_box = widgets.Accordion(
            children=[widgets.HBox([self.param_select, self.metric_select])], titles=("Columns",)
        )

    def _build_sorting(self) -> None:
        column, ascending = _order_in_force(self._order_by)
        self._initial_sort = column
        self.sort_column = widgets.Dropdown(description="Sort by", options=[(AS_LOADED, "")])
        self.sort_order = widgets.ToggleButtons(
            options=[("desc", False), ("asc", True)],
            value=ascending,
            style={"button_width": "64px"},
            tooltips=["descending", "ascending"],
        )
        self.nested_box = widgets.Checkbox(
            value=False, description="Show nested runs", indent=False,
            layout=widgets.Layout(width="auto"),
        )  # fmt: skip

    def _build_pager(self) -> None:
        self.prev_button = widgets.Button(description="Prev", icon="chevron-left")
        self.next_button = widgets.Button(description="Next", icon="chevron-right")
        self.page_label = widgets.HTML()

    def _build_selection(self) -> None:
        self.row_checks = [
            widgets.Checkbox(value=False, indent=False, layout=_CHECK_LAYOUT)
            for _ in range(self.page_size)
        ]
        self.checks_box = widgets.VBox(
            [widgets.HTML(layout=widgets.Layout(height=f"{2 * ROW_PX}px", margin="0"))]
            + self.row_checks,
            layout=widgets.Layout(width="28px", flex="none", margin=f"{ROW_PX // 3}px 0 0 0"),
        )
        self.checks_box.add_class("jp-mlops-checks")
        self.selected_label = widgets.HTML()
        self.compare_button = widgets.Button(
            description="Compare selected",
            icon="columns",
            button_style="primary",
            layout=widgets.Layout(width="170px"),
        )
        self.clear_button = widgets.Button(
            description="Clear selection", layout=widgets.Layout(width="170px")
        )

    def _layout(self) -> list[widgets.Widget]:
        actions = widgets.HBox([self.selected_label, self.compare_button, self.clear_button])
        return [
            self.title_html,
            widgets.HBox([self.experiment_select, self.filter_text, self.refresh_button]),
            self.error_html,
            self.columns_box,
            widgets.HBox([self.sort_column, self.sort_order, self.nested_box]),
            widgets.HBox(
                [self.checks_box, self.table_html], layout=widgets.Layout(overflow="visible")
            ),
            widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            widgets.HBox([actions]),
            self.compare_area,
        ]

    def _wire(self) -> None:
        self.columns_box.selected_index = None
        for control in (self.experiment_select, self.param_select, self.metric_select):
            control.observe(self._on_columns, names="value")
        self.filter_text.observe(self._on_filter, names="value")
        self.sort_column.observe(self._on_sort, names="value")
        self.sort_order.observe(self._on_sort, names="value")
        for index, check in enumerate(self.row_checks):
            check.observe(lambda change, i=index: self._on_check(i, change), names="value")
        self.nested_box.observe(lambda _: self._sort(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.prev_button.on_click(lambda _: self.set_page(self._page - 1))
        self.next_button.on_click(lambda _: self.set_page(self._page + 1))
        self.compare_button.on_click(lambda _: self.compare())
        self.clear_button.on_click(lambda _: self._set_selected([]))

    # -- behaviour -----------------------------------------------------------------------------
    def _on_filter(self, change: dict[str, Any]) -> None:
        from jupyter_mlops.tracking.search import compile_filter

        try:
            self._predicate = compile_filter(change["new"])
        except FilterError as e:
            self.error_html.value = error_line(e)
            return
        self.error_html.value = ""
        self._apply()

    def _apply(self) -> None:
        """Rebuild the table from the cached runs (after a change of experiments, filter...)."""
        self._sync_column_options()
        self._sort_options()
        self._build_table()
        self._sort()

    def _build_table(self) -> None:
        params, metrics = list(self.param_select.value), list(self.metric_select.value)
        column = self.sort_column.value or ""
        if column.startswith("params.") and column[7:] not in params:
            params.append(column[7:])
        if column.startswith("metrics."):
            key = column[8:].rsplit(".", 1)[0]
            metrics += [] if key in metrics else [key]
        self._table = compare.runs_table(self._matching(), params, metrics)

    def _sync_column_options(self) -> None:
        """The column choices follow the chosen experiments (their own params and metrics)."""
        own = self._chosen_runs(self.experiment_select.value)
        params, metrics = compare.param_keys(own), compare.metric_keys(own)
        if (list(self.param_select.options), list(self.metric_select.options)) == (params, metrics):
            return
        self._syncing = True
        try:
            for select, keys, count, prefix in (
                (self.param_select, params, DEFAULT_PARAMS, "params."),
                (self.metric_select, metrics, DEFAULT_METRICS, "metrics."),
            ):
                kept = [key for key in select.value if key in keys]
                select.options = keys
                hint = f"{self._hint} {self.sort_column.value}"
                select.value = kept or _defaults(None, keys, count, hint, prefix)
        finally:
            self._syncing = False

    def _sort_options(self) -> None:
        """Every column the shown experiments have, not only those on screen."""
        options: list[tuple[str, str]] = [(AS_LOADED, "")]
        options += [(label, key) for key, label in _FIXED]
        options += [(key, f"params.{key}") for key in self.param_select.options]
        options += [
            (f"{key} ({stat})", f"metrics.{key}.{stat}")
            for key in self.metric_select.options
            for stat in compare.STATS
        ]
        current = self.sort_column.value or self._initial_sort
        self._initial_sort = ""
        self._syncing = True
        try:
            self.sort_column.options = options
            self.sort_column.value = current if current in dict(options).values() else ""
        finally:
            self._syncing = False

    def _on_columns(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._apply()

    def _on_sort(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            if change["owner"] is self.sort_column:
                self._build_table()
            self._sort()

    def _sort(self) -> None:
        column = self.sort_column.value
        if column and column in self._table.columns:
            ordered = compare.sort_table(self._table, column, bool(self.sort_order.value))
        else:
            ordered = self._table
        self._shown = _fold(ordered, self.nested_box.value)
        self.set_page(0)

    def set_page(self, page: int) -> None:
        """Show page ``page`` (0-based, clipped to the pages there are)."""
        self._page = max(0, min(page, self.page_count - 1))
        self._render()

    def refresh(self) -> None:
        """Read the store again and redraw, keeping the selection and the controls' state."""
        self._load()
        chosen = self.experiment_select.value
        self._syncing = True  # one redraw below, not one per changed option
        try:
            self.experiment_select.options = self._experiment_options()
            self.experiment_select.value = [name for name in chosen if name in self._experiments]
        finally:
            self._syncing = False
        self._apply()

    def _experiment_options(self) -> list[tuple[str, str]]:
        return [(f"{name} ({count})", name) for name, count in self._experiments.items()]

    def _render(self) -> None:
        self.title_html.value = self._title()
        self.table_html.value = CSS + self.page_html()
        count, pages = len(self._shown), self.page_count
        runs = f"{count:,} run{'s' * (count != 1)}"
        self.page_label.value = f"&nbsp;page {self._page + 1} of {pages} &middot; {runs}&nbsp;"
        self.prev_button.disabled = self._page == 0
        self.next_button.disabled = self._page >= pages - 1
        self._sync_selection()

    def _title(self) -> str:
        chosen = self.experiment_select.value
        names = ", ".join(esc(name) for name in chosen[:5]) + (" …" if len(chosen) > 5 else "")
        return f"<b>Runs</b> &middot; {len(self._shown):,} matching in {names or 'no experiment'}"

    # -- selection -----------------------------------------------------------------------------
    def _page_rows(self) -> Any:
        start = self._page * self.page_size
        return self._shown.iloc[start : start + self.page_size]

    def _sync_selection(self) -> None:
        ids = list(self._page_rows()["run_id"])
        self._syncing = True
        try:
            for index, check in enumerate(self.row_checks):
                shown = index < len(ids)
                check.layout.visibility = "visible" if shown else "hidden"
                check.layout.display = None if shown else "none"
                check.value = shown and ids[index] in self._selected
                check.description_allow_html = False
                check.tooltip = f"Select {ids[index]} to compare" if shown else None
        finally:
            self._syncing = False
        self._show_selected()

    def _on_check(self, index: int, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        ids = list(self._page_rows()["run_id"])
        if index >= len(ids):
            return
        run_id = ids[index]
        kept = [rid for rid in self._selected if rid != run_id]
        self._selected = kept + [run_id] if change["new"] else kept
        self._show_selected()

    def _set_selected(self, run_ids: Iterable[str]) -> None:
        self._selected = [rid for rid in dict.fromkeys(run_ids) if rid in self._by_id]
        self._sync_selection()

    def _show_selected(self) -> None:
        count = len(self._selected)
        self.selected_label.value = f"{count} run{'s' * (count != 1)} selected"
        self.compare_button.disabled = count == 0

    @property
    def selected_run_ids(self) -> list[str]:
        """The ids of the selected runs (on any page), in the order they were selected."""
        return list(self._selected)

    @selected_run_ids.setter
    def selected_run_ids(self, run_ids: Iterable[str]) -> None:
        self._set_selected(run_ids)

    def compare(self, run_ids: Iterable[str] | None = None) -> Any:
        """Open a :class:`ComparePanel` of the selected runs (or ``run_ids``) below the table."""
        from jupyter_mlops.jupyter.panels_compare import ComparePanel

        ids = self.selected_run_ids if run_ids is None else list(run_ids)
        if not ids:
            self.error_html.value = error_line("Select one or more runs to compare.")
            return None
        if self.compare_panel is not None:
            self.compare_panel.close()
        self.compare_panel = ComparePanel(ids)
        self.compare_area.children = (self.compare_panel,)
        return self.compare_panel

    # -- views ---------------------------------------------------------------------------------
    @property
    def page(self) -> int:
        """The page shown, 0-based."""
        return self._page

    @property
    def page_count(self) -> int:
        """How many pages the matching runs fill (at least 1)."""
        return max(1, -(-len(self._shown) // self.page_size))

    @property
    def run_count(self) -> int:
        """How many runs match."""
        return len(self._shown)

    def to_dataframe(self, page_only: bool = False) -> Any:
        """What the panel shows, as a DataFrame in the panel's order.

        Parameters
        ----------
        page_only : bool
            Only the rows of the page on screen (default: every matching run).

        Returns
        -------
        pandas.DataFrame
            Columns ``run_id, run_name, experiment, status, start_time, duration_s``, the
            chosen ``params.<key>`` (text) and ``metrics.<key>.last/min/max`` (float).
        """
        frame = (self._page_rows() if page_only else self._shown).reset_index(drop=True)
        metric_columns = [c for c in frame.columns if c.startswith("metrics.")]
        return frame.astype({c: float for c in metric_columns})

    def page_html(self) -> str:
        """The page on screen as an HTML table (every value escaped)."""
        rows, start = self._page_rows(), self._page * self.page_size
        params, metrics = self.param_select.value, self.metric_select.value
        head = ['<th rowspan="2">#</th>'] + [f'<th rowspan="2">{label}</th>' for _, label in _FIXED]
        head += [f'<th rowspan="2">{esc(key)}</th>' for key in params]
        head += [f'<th colspan="3">{esc(key)}</th>' for key in metrics]
        head2 = [f"<th>{stat}</th>" for _ in metrics for stat in compare.STATS]
        body = [
            _row(start + i + 1, record, params, metrics, self._children.get(record["run_id"], 0))
            for i, record in enumerate(rows.to_dict("records"))
        ]
        if not body:
            width = 1 + len(_FIXED) + len(params) + 3 * len(metrics)
            body = [[f'<td colspan="{width}">No matching runs</td>']]
        return RUNS_CSS + html_table(head, body, head2).replace(
            'class="jp-mlops-table"', 'class="jp-mlops-table jp-mlops-runs-page"', 1
        )

    @property
    def _children(self) -> dict[str, int]:
        from jupyter_mlops.jupyter.server_routes import child_counts

        return child_counts(self._runs)

    def static_html(self) -> str:
        """The title, the page on screen and the pager line, for viewers without widgets."""
        pager = f"page {self._page + 1} of {self.page_count} &middot; {len(self._shown):,} runs"
        return (
            f'<div class="jp-mlops-panel">{CSS}<div>{self._title()}</div>{self.page_html()}'
            f'<div class="jp-mlops-note">{pager}</div></div>'
        )

    def close(self) -> None:
        """Close the panel and the comparison panel opened from it (stops its live thread)."""
        if getattr(self, "compare_panel", None) is not None:
            self.compare_panel.close()
        super().close()

    def __repr__(self) -> str:
        """A one-line description (the text/plain fallback)."""
        return f"<RunsPanel: {len(self._shown)} runs, page {self._page + 1} of {self.page_count}>"


def _order_in_force(order_by: Any) -> tuple[str, bool]:
    """The sort control's column and direction for ``order_by`` (its first clause)."""
    first = order_by if isinstance(order_by, str) else (order_by or [""])[0]
    match = re.match(
        r"\s*(metrics|params|attributes)\.(`[^`]+`|\S+)\s*(ASC|DESC)?\s*$", first or "", re.I
    )
    if not match:
        return "", False
    kind, key, way = match.group(1).lower(), match.group(2).strip("`"), match.group(3) or "ASC"
    ascending = way.upper() == "ASC"
    if kind == "metrics":
        return f"metrics.{key}.last", ascending
    if kind == "params":
        return f"params.{key}", ascending
    fixed = {key for key, _ in _FIXED}
    return (key if key in fixed else ""), ascending


def _fold(frame: Any, show_nested: bool) -> Any:
    """Nested runs folded under their parents: hidden, or listed right after the parent."""
    if frame.empty or "parent_run_id" not in frame:
        return frame
    ids, parents = frame["run_id"].tolist(), frame["parent_run_id"].tolist()
    known = set(ids)
    top = [i for i, parent in enumerate(parents) if parent not in known]
    if not show_nested:
        return frame.iloc[top]
    under: dict[str, list[int]] = {}
    for i, parent in enumerate(parents):
        if parent in known:
            under.setdefault(parent, []).append(i)
    order, depth = [], []
    for i in top:
        order.append(i)
        depth.append(0)
        kids = under.get(ids[i], [])
        order += kids
        depth += [1] * len(kids)
    return frame.iloc[order].assign(_depth=depth)


def _defaults(chosen: Any, keys: list[str], count: int, hint: str, prefix: str) -> list[str]:
    """The columns asked for, else the keys named in the filter or order, then the first ones."""
    if chosen:
        return [key for key in chosen if key in keys]
    named = [key for key in keys if _mentions(hint, prefix, key)]
    return (named + [key for key in keys if key not in named])[:count]


def _mentions(text: str, prefix: str, key: str) -> bool:
    """Whether ``text`` names the field ``prefix + key`` (plain or back-ticked)."""
    plain = re.escape(prefix + key) + r"(?![\w.\-/:])"
    return re.search(plain, text) is not None or f"{prefix}`{key}`" in text


def _row(
    number: int,
    record: dict[str, Any],
    params: Sequence[str],
    metrics: Sequence[str],
    children: int = 0,
) -> list[str]:
    cells = [f'<td class="jp-mlops-num">{number}</td>']
    name = record["run_name"] or record["run_id"][:8]
    name = name if len(name) <= 40 else name[:39] + "…"
    nested = '<span class="jp-mlops-nested">↳ </span>' if record.get("_depth") else ""
    folded = f' <span class="jp-mlops-note">({children} nested)</span>' if children else ""
    cells.append(f"<td>{nested}{run_link(record['run_id'], name)}{folded}</td>")
    cells.append(f"<td>{format_cell(record['experiment'], 30)}</td>")
    cells.append(f"<td>{format_cell(record['status'])}</td>")
    cells.append(f"<td>{format_cell(record['start_time'])}</td>")
    duration = esc(format_duration(record["duration_s"])) or MISSING
    cells.append(f'<td class="jp-mlops-num">{duration}</td>')
    cells += [f"<td>{format_cell(record[f'params.{key}'])}</td>" for key in params]
    cells += [
        f'<td class="jp-mlops-num">{format_cell(record[f"metrics.{key}.{stat}"])}</td>'
        for key in metrics
        for stat in compare.STATS
    ]
    return cells
