/**
 * The runs table: virtualized, so 10,000 runs cost what the ~20 visible rows cost. Rows are
 * absolutely positioned inside a body as tall as all the runs; only the rows in view (plus a
 * few either side) exist in the DOM, and their pages are fetched as the table scrolls to them.
 */
import { MlopsModel } from '../model';
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

const FIXED_COLUMNS: IColumn[] = [
  {
    key: 'attributes.run_name',
    title: 'Run',
    width: 170,
    value: r => r.run_name
  },
  {
    key: 'attributes.status',
    title: 'Status',
    width: 78,
    value: r => r.status
  },
  {
    key: 'attributes.start_time',
    title: 'Started',
    width: 118,
    value: r => formatAgo(r.start_time)
  },
  {
    key: 'attributes.duration_s',
    title: 'Duration',
    width: 84,
    numeric: true,
    value: r => formatDuration(r.duration_s)
  }
];

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
    const metrics: IColumn[] = (pager?.metricKeys ?? []).map(key => ({
      key: `metrics.${key}`,
      title: key,
      width: 84,
      numeric: true,
      value: r => formatNumber(r.metrics[key])
    }));
    const params: IColumn[] = (pager?.paramKeys ?? []).map(key => ({
      key: `params.${key}`,
      title: key,
      width: 96,
      value: r => r.params[key] ?? '—'
    }));
    return [...FIXED_COLUMNS, ...metrics, ...params];
  }

  private _renderHeader(columns: IColumn[]): void {
    const order = this._model.order;
    const cells = [element('span', 'jp-mlops-runs-cell jp-mlops-runs-select')];
    for (const column of columns) {
      const cell = element('button', 'jp-mlops-runs-cell jp-mlops-runs-sort');
      cell.type = 'button';
      cell.style.width = `${column.width}px`;
      cell.dataset.key = column.key;
      cell.title = `Sort by ${column.key}`;
      cell.setAttribute('role', 'columnheader');
      cell.appendChild(element('span', 'jp-mlops-runs-title', column.title));
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
    this._width = 28 + columns.reduce((sum, c) => sum + c.width, 0);
    this._header.style.width = `${this._width}px`;
  }

  private _renderRows(): void {
    const pager = this._pager;
    const total = pager?.total ?? 0;
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
    void pager.load(first, last).catch(() => undefined); // errors show through the model
    const selected = this._model.selected;
    const rows: HTMLElement[] = [];
    for (let index = first; index <= last; index++) {
      rows.push(this._row(index, pager.row(index), selected));
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
    const wanted = (Math.max(total, 1) + 1) * ROW_HEIGHT + Math.max(chrome, 2);
    this.node.style.height = wanted < MAX_HEIGHT ? `${wanted}px` : '';
  }

  private _row(
    index: number,
    run: IRunRow | undefined,
    selected: readonly string[]
  ): HTMLElement {
    const row = element('div', 'jp-mlops-run-row');
    row.setAttribute('role', 'row');
    row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    row.dataset.index = String(index);
    const mark = element('span', 'jp-mlops-runs-cell jp-mlops-runs-select');
    row.appendChild(mark);
    if (run === undefined) {
      row.classList.add('jp-mlops-loading');
      row.appendChild(element('span', 'jp-mlops-runs-cell', '…'));
      return row;
    }
    row.dataset.runId = run.run_id;
    row.title = `${run.run_name} (${run.run_id}) in ${run.experiment}, started ${formatTime(run.start_time)}`;
    row.tabIndex = 0;
    const position = selected.indexOf(run.run_id);
    if (position >= 0) {
      row.classList.add('jp-mod-selected');
      row.setAttribute('aria-selected', 'true');
      mark.appendChild(swatch(position));
    }
    for (const column of this._columnsNow) {
      const cell = element('span', 'jp-mlops-runs-cell', column.value(run));
      cell.setAttribute('role', 'cell');
      cell.style.width = `${column.width}px`;
      if (column.numeric) {
        cell.classList.add('jp-mlops-num');
      }
      if (column.key === 'attributes.run_name') {
        cell.classList.add('jp-mlops-run-name');
      } else if (column.key === 'attributes.status') {
        cell.classList.add(
          'jp-mlops-status',
          `jp-mlops-status-${run.status.toLowerCase()}`
        );
      }
      row.appendChild(cell);
    }
    const toggle = () => void this._model.toggleRun(run.run_id);
    row.addEventListener('click', toggle);
    row.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        toggle();
      }
    });
    return row;
  }

  private readonly _header: HTMLElement;
  private readonly _body: HTMLElement;
  private _pager: RunsPager | null = null;
  private _columnsNow: IColumn[] = FIXED_COLUMNS;
  private _headerSignature = '';
  private _width = 0;
  private _frame = 0;
}
