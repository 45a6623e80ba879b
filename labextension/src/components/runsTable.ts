/**
 * The runs table: virtualized, so 10,000 runs cost what the ~20 visible rows cost. Rows are
 * absolutely positioned inside a body as tall as all the runs; only the rows in view (plus a
 * few either side) exist in the DOM, and their pages are fetched as the table scrolls to them.
 */
import { MlopsModel } from '../model';
import { ITreeRow } from '../runs';
import { RunsPager } from '../runs';
import { IRunRow } from '../tokens';
import {
  element,
  formatAgo,
  formatDuration,
  formatNumber,
  formatTime,
  swatch
} from './dom';

/** Height of one row in px (the CSS uses the same value). */
export const ROW_HEIGHT = 24;
/** Height of the table when its rows do not fit (the CSS default). */
const MAX_HEIGHT = 264;
/** Rows rendered beyond each edge of the view. */
const OVERSCAN = 6;

interface IColumn {
  /** The sort key (`attributes.run_name`, `metrics.acc`...). */
  key: string;
  title: string;
  width: number;
  numeric?: boolean;
  value: (row: IRunRow) => string;
}

/** Width of the check box column (frozen at the left with the name). */
const SELECT_WIDTH = 24;
/** Width of the run name column. */
const NAME_WIDTH = 108;

const NAME_COLUMN: IColumn = {
  key: 'attributes.run_name',
  title: 'Run',
  width: NAME_WIDTH,
  value: r => r.run_name
};

const TRAILING_COLUMNS: IColumn[] = [
  {
    key: 'attributes.status',
    title: 'Status',
    width: 82,
    value: r => r.status
  },
  {
    key: 'attributes.start_time',
    title: 'Started',
    width: 96,
    value: r => formatAgo(r.start_time)
  },
  {
    key: 'attributes.duration_s',
    title: 'Duration',
    width: 78,
    numeric: true,
    value: r => formatDuration(r.duration_s)
  }
];

/** A title that may wrap after `_`, `.`, `-` and `/` (headers take two lines). */
export function breakable(title: string): string {
  return title.replace(/([_./-])/g, '$1\u200b');
}

/**
 * A column wide enough for its title on two lines (within limits): headers read in full, not
 * "la", and a few key metrics fit beside the frozen name at the side bar's default width.
 */
export function columnWidth(title: string, numeric: boolean): number {
  const parts = breakable(title).split('\u200b');
  let longest = Math.max(...parts.map(p => p.length));
  if (parts.length === 1 && title.length > 9) {
    longest = Math.ceil(title.length / 2); // one long word: two lines of half
  } else if (parts.length > 2) {
    // Two lines: the best split of the parts.
    let best = title.length;
    for (let i = 1; i < parts.length; i++) {
      const a = parts.slice(0, i).join('').length;
      best = Math.min(best, Math.max(a, title.length - a));
    }
    longest = Math.max(longest, best);
  }
  return Math.max(numeric ? 56 : 64, Math.min(longest * 6.6 + 16, 140));
}

/** Metrics worth a glance first: the sort key, those the filter names, then the others. */
export function metricOrder(
  keys: string[],
  filter: string,
  sortKey: string | null,
  rows: IRunRow[] = []
): string[] {
  // Metrics of the top-level rows in view come before those only nested runs have.
  const shown = new Map<string, number>();
  for (const row of rows) {
    for (const key of Object.keys(row.metrics)) {
      shown.set(key, (shown.get(key) ?? 0) + 1);
    }
  }
  const rank = (key: string): number => {
    if (sortKey === `metrics.${key}`) {
      return 0;
    }
    if (filter.includes(key)) {
      return 1;
    }
    if (key === 'duration_s') {
      return 4;
    }
    const training = /(^|\.)training_|^model-/.test(key);
    return (training ? 3 : 2) + (rows.length && !shown.has(key) ? 3 : 0);
  };
  return [...keys].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (shown.get(b) ?? 0) - (shown.get(a) ?? 0) ||
      a.localeCompare(b)
  );
}

function firstRows(pager: RunsPager): IRunRow[] {
  const rows: IRunRow[] = [];
  for (let i = 0; i < Math.min(pager.total ?? 0, 50); i++) {
    const row = pager.row(i);
    if (row) {
      rows.push(row);
    }
  }
  return rows;
}

/** The virtualized table of the model's current runs. */
export class RunsTable {
  constructor(private readonly _model: MlopsModel) {
    this.node = element('div', 'jp-mlops-runs');
    this.node.setAttribute('role', 'table');
    this.node.setAttribute('aria-label', 'Runs');
    this.node.tabIndex = -1;
    this._header = element('div', 'jp-mlops-runs-header');
    this._header.setAttribute('role', 'row');
    this._body = element('div', 'jp-mlops-runs-body');
    this.node.append(this._header, this._body);
    this.node.addEventListener('scroll', () => this._schedule());
  }

  readonly node: HTMLElement;

  /** Redraw the header and the rows in view (cheap: call it on every change). */
  update(): void {
    const pager = this._model.runs;
    if (pager !== this._pager) {
      this._pager = pager;
      this.node.scrollTop = 0;
    }
    const columns = this._columns(pager);
    const signature =
      columns.map(c => c.key).join('\n') + this._orderSignature();
    if (signature !== this._headerSignature) {
      this._headerSignature = signature;
      this._renderHeader(columns);
    }
    this._columnsNow = columns;
    this._renderRows();
  }

  private _schedule(): void {
    if (this._frame === 0) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._renderRows();
      });
    }
  }

  private _orderSignature(): string {
    const order = this._model.order;
    return order ? `|${order.key}|${order.descending}` : '';
  }

  private _columns(pager: RunsPager | null): IColumn[] {
    const keys = metricOrder(
      pager?.metricKeys ?? [],
      this._model.filter,
      this._model.order?.key ?? null,
      pager ? firstRows(pager) : []
    );
    const metrics: IColumn[] = keys.map(key => ({
      key: `metrics.${key}`,
      title: key,
      width: columnWidth(key, true),
      numeric: true,
      value: r => formatNumber(r.metrics[key])
    }));
    const params: IColumn[] = (pager?.paramKeys ?? []).map(key => ({
      key: `params.${key}`,
      title: key,
      width: columnWidth(key, false),
      value: r => r.params[key] ?? '—'
    }));
    return [NAME_COLUMN, ...metrics, ...TRAILING_COLUMNS, ...params];
  }

  private _renderHeader(columns: IColumn[]): void {
    const order = this._model.order;
    const cells = [
      element('span', 'jp-mlops-runs-cell jp-mlops-runs-select jp-mlops-frozen')
    ];
    for (const column of columns) {
      const cell = element('button', 'jp-mlops-runs-cell jp-mlops-runs-sort');
      cell.type = 'button';
      cell.style.width = `${column.width}px`;
      cell.dataset.key = column.key;
      cell.title = `${column.title}: click to sort by ${column.key}`;
      if (column === NAME_COLUMN) {
        cell.classList.add('jp-mlops-frozen', 'jp-mlops-frozen-name');
      }
      cell.setAttribute('role', 'columnheader');
      cell.appendChild(
        element('span', 'jp-mlops-runs-title', breakable(column.title))
      );
      if (order?.key === column.key) {
        cell.setAttribute(
          'aria-sort',
          order.descending ? 'descending' : 'ascending'
        );
        cell.appendChild(
          element('span', 'jp-mlops-runs-arrow', order.descending ? '▼' : '▲')
        );
      }
      if (column.numeric) {
        cell.classList.add('jp-mlops-num');
      }
      cell.addEventListener(
        'click',
        () => void this._model.toggleOrder(column.key)
      );
      cells.push(cell);
    }
    this._header.replaceChildren(...cells);
    this._width = SELECT_WIDTH + columns.reduce((sum, c) => sum + c.width, 0);
    this._header.style.width = `${this._width}px`;
  }

  private _renderRows(): void {
    const pager = this._pager;
    const total = pager?.shownTotal ?? 0;
    this._body.style.height = `${total * ROW_HEIGHT}px`;
    this._body.style.width = `${this._width}px`;
    this._fitHeight(total);
    if (!pager || total === 0) {
      this._body.replaceChildren();
      return;
    }
    const headerHeight = this._header.offsetHeight;
    const top = Math.max(0, this.node.scrollTop - headerHeight);
    const viewHeight = this.node.clientHeight || 300;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(
      total - 1,
      Math.ceil((top + viewHeight) / ROW_HEIGHT) + OVERSCAN
    );
    void pager.loadShown(first, last).catch(() => undefined); // errors show through the model
    const selected = this._model.selected;
    const rows: HTMLElement[] = [];
    for (let index = first; index <= last; index++) {
      rows.push(this._row(index, pager.shownRow(index), selected));
    }
    const active = document.activeElement as HTMLElement | null;
    const focusedIndex =
      active && this._body.contains(active) ? active.dataset.index : undefined;
    this._body.replaceChildren(...rows);
    if (focusedIndex !== undefined) {
      // The focused row was redrawn: keep the keyboard where it was.
      rows.find(r => r.dataset.index === focusedIndex)?.focus();
    }
  }

  /** A table of a few runs is only as tall as its rows (plus a horizontal scroll bar). */
  private _fitHeight(total: number): void {
    const chrome = this.node.offsetHeight - this.node.clientHeight; // borders, scroll bar
    const header = this._header.offsetHeight || ROW_HEIGHT;
    const wanted =
      Math.max(total, 1) * ROW_HEIGHT + header + Math.max(chrome, 2);
    this.node.style.height = wanted < MAX_HEIGHT ? `${wanted}px` : '';
  }

  private _row(
    index: number,
    tree: ITreeRow,
    selected: readonly string[]
  ): HTMLElement {
    const run = tree.run;
    const row = element('div', 'jp-mlops-run-row');
    row.setAttribute('role', 'row');
    row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    row.dataset.index = String(index);
    const mark = element(
      'span',
      'jp-mlops-runs-cell jp-mlops-runs-select jp-mlops-frozen'
    );
    row.appendChild(mark);
    if (run === undefined) {
      row.classList.add('jp-mlops-loading');
      row.appendChild(element('span', 'jp-mlops-runs-cell', '…'));
      return row;
    }
    row.dataset.runId = run.run_id;
    row.title = `${run.run_name} (${run.run_id}) in ${run.experiment}, started ${formatTime(run.start_time)}`;
    row.tabIndex = 0;
    if (tree.depth > 0) {
      row.classList.add('jp-mlops-child-row');
      row.dataset.parentRunId = run.parent_run_id ?? '';
    }
    const toggle = () => void this._model.toggleRun(run.run_id);
    const position = selected.indexOf(run.run_id);
    const box = element('input', 'jp-mlops-run-check');
    box.type = 'checkbox';
    box.checked = position >= 0;
    box.setAttribute('aria-label', `Select ${run.run_name} to compare`);
    box.addEventListener('click', event => event.stopPropagation());
    box.addEventListener('change', toggle);
    mark.appendChild(box);
    if (position >= 0) {
      row.classList.add('jp-mod-selected');
      row.setAttribute('aria-selected', 'true');
      mark.appendChild(swatch(position));
    }
    for (const column of this._columnsNow) {
      row.appendChild(
        column === NAME_COLUMN
          ? this._nameCell(run, tree)
          : this._cell(column, run)
      );
    }
    row.addEventListener('click', toggle);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        this._model.openRun(run.run_id);
      } else if (event.key === ' ') {
        event.preventDefault();
        toggle();
      }
    });
    return row;
  }

  private _cell(column: IColumn, run: IRunRow): HTMLElement {
    const cell = element('span', 'jp-mlops-runs-cell', column.value(run));
    cell.setAttribute('role', 'cell');
    cell.style.width = `${column.width}px`;
    if (column.numeric) {
      cell.classList.add('jp-mlops-num');
    }
    if (column.key === 'attributes.status') {
      cell.classList.add(
        'jp-mlops-status',
        `jp-mlops-status-${run.status.toLowerCase()}`
      );
    }
    return cell;
  }

  /** The frozen name cell: a fold caret for parents, a status dot, the name (opens the run). */
  private _nameCell(run: IRunRow, tree: ITreeRow): HTMLElement {
    const cell = element(
      'span',
      'jp-mlops-runs-cell jp-mlops-frozen jp-mlops-frozen-name jp-mlops-name-cell'
    );
    cell.setAttribute('role', 'cell');
    cell.style.width = `${NAME_WIDTH}px`;
    cell.style.paddingLeft = `${4 + tree.depth * 14}px`;
    const children = run.child_count ?? 0;
    if (tree.depth === 0 && children > 0) {
      const open = this._pager?.isExpanded(run.run_id) ?? false;
      const caret = element('button', 'jp-mlops-fold', open ? '▾' : '▸');
      caret.type = 'button';
      caret.title = `${open ? 'Fold' : 'Show'} ${children} nested run${children === 1 ? '' : 's'}`;
      caret.setAttribute('aria-expanded', String(open));
      caret.addEventListener('click', event => {
        event.stopPropagation();
        void this._pager?.toggleChildren(tree.root);
      });
      cell.appendChild(caret);
    } else {
      cell.appendChild(element('span', 'jp-mlops-fold-space'));
    }
    const dot = element(
      'span',
      `jp-mlops-status-dot jp-mlops-status-${run.status.toLowerCase()}`,
      '●'
    );
    dot.title = run.status;
    const name = element('a', 'jp-mlops-run-name', run.run_name);
    name.href = `#jupyter-mlops/run/${encodeURIComponent(run.run_id)}`;
    name.title = `Open the run page of ${run.run_name}`;
    name.addEventListener('click', event => {
      event.preventDefault();
      event.stopPropagation();
      this._model.openRun(run.run_id);
    });
    cell.append(dot, name);
    if (children > 0) {
      cell.dataset.children = String(children);
    }
    return cell;
  }

  private readonly _header: HTMLElement;
  private readonly _body: HTMLElement;
  private _pager: RunsPager | null = null;
  private _columnsNow: IColumn[] = [NAME_COLUMN, ...TRAILING_COLUMNS];
  private _headerSignature = '';
  private _width = 0;
  private _frame = 0;
}
