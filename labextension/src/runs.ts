/**
 * The rows of the runs table: one query's runs, fetched a page at a time as the table scrolls
 * to them, so 10,000 runs cost a few requests of 100.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { IMlopsApi, IRunRow, IRunsPage } from './tokens';

/** Runs fetched per request by the runs table. */
export const PAGE_SIZE = 100;

/** A column of the runs table to sort by: `attributes.run_name`, `metrics.acc`... */
export interface ISortOrder {
  key: string;
  descending: boolean;
}

/** The `order_by` clause for `order` (metric and param keys are back-ticked). */
export function orderClause(order: ISortOrder): string {
  const dot = order.key.indexOf('.');
  const prefix = order.key.slice(0, dot);
  const name = order.key.slice(dot + 1);
  const field = prefix === 'attributes' ? order.key : `${prefix}.\`${name}\``;
  return `${field} ${order.descending ? 'DESC' : 'ASC'}`;
}

/** The query of the runs table. */
export interface IRunsTableQuery {
  experiment: string | null;
  filter: string;
  order: ISortOrder | null;
}

/**
 * The rows of one runs query, fetched a page at a time as the table scrolls to them.
 */
export class RunsPager implements IDisposable {
  constructor(
    private readonly _api: IMlopsApi,
    readonly query: IRunsTableQuery,
    readonly pageSize = PAGE_SIZE
  ) {}

  /** Emitted when rows arrive. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** How many runs match (`null` before the first page arrived). */
  get total(): number | null {
    return this._total;
  }

  /** Keys of the metrics the matching runs have, sorted. */
  get metricKeys(): string[] {
    return this._metricKeys;
  }

  /** Keys of the params the matching runs have, sorted. */
  get paramKeys(): string[] {
    return this._paramKeys;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The row at `index`, or `undefined` while its page is not loaded. */
  row(index: number): IRunRow | undefined {
    return this._pages.get(Math.floor(index / this.pageSize))?.[
      index % this.pageSize
    ];
  }

  /** Load the pages that hold rows `first`..`last` (each page once, however often asked). */
  async load(first: number, last: number): Promise<void> {
    this._wanted = [first, last];
    const pages: Promise<void>[] = [];
    for (const page of this._pageRange(first, last)) {
      if (!this._pages.has(page)) {
        pages.push(this._fetch(page));
      }
    }
    await Promise.all(pages);
  }

  /** Fetch again the pages around the rows last asked for (polling); drop the others. */
  async refresh(): Promise<void> {
    const [first, last] = this._wanted;
    const keep = new Set(this._pageRange(first, last));
    for (const page of [...this._pages.keys()]) {
      if (!keep.has(page)) {
        this._pages.delete(page);
      }
    }
    await Promise.all([...keep].map(page => this._fetch(page, true)));
  }

  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  /** Page numbers covering rows `first`..`last`, within the total once it is known. */
  private _pageRange(first: number, last: number): number[] {
    const end = this._total === null ? last : Math.min(last, this._total - 1);
    const pages: number[] = [];
    const from = Math.floor(Math.max(0, first) / this.pageSize);
    for (
      let page = from;
      page <= Math.floor(Math.max(0, end) / this.pageSize);
      page++
    ) {
      pages.push(page);
    }
    return pages.length ? pages : [0];
  }

  private _fetch(page: number, again = false): Promise<void> {
    const pending = this._pending.get(page);
    if (pending && !again) {
      return pending;
    }
    const request = this._api
      .searchRuns({
        experiment: this.query.experiment,
        filter: this.query.filter,
        order_by: this.query.order ? [orderClause(this.query.order)] : [],
        limit: this.pageSize,
        offset: page * this.pageSize
      })
      .then(reply => this._receive(page, reply))
      .finally(() => {
        if (this._pending.get(page) === request) {
          this._pending.delete(page);
        }
      });
    this._pending.set(page, request);
    return request;
  }

  private _receive(page: number, reply: IRunsPage): void {
    if (this._disposed) {
      return;
    }
    this._pages.set(page, reply.runs);
    this._total = reply.total;
    this._metricKeys = reply.metric_keys;
    this._paramKeys = reply.param_keys;
    this._changed.emit();
  }

  private _pages = new Map<number, IRunRow[]>();
  private _pending = new Map<number, Promise<void>>();
  private _total: number | null = null;
  private _metricKeys: string[] = [];
  private _paramKeys: string[] = [];
  private _wanted: [number, number] = [0, PAGE_SIZE - 1];
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}
