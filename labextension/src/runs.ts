/**
 * The rows of the runs table: one query's runs, fetched a page at a time as the table scrolls
 * to them, so 10,000 runs cost a few requests of 100.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { IMlopsApi, IRunRow, IRunsPage, IRunsQuery } from './tokens';

interface IChildren {
  runId: string;
  rows: IRunRow[] | null;
}

/** Runs fetched per request by the runs table. */
export const PAGE_SIZE = 100;
/** At most this many children are listed under an expanded parent. */
export const MAX_CHILDREN = 1000;

/** A row of the folded table: a top-level run (depth 0) or a child of an expanded one. */
export interface ITreeRow {
  run: IRunRow | undefined;
  depth: number;
  /** Index of the top-level run the row belongs to. */
  root: number;
}

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

  /** The top-level row at `index`, or `undefined` while its page is not loaded. */
  row(index: number): IRunRow | undefined {
    return this._pages.get(Math.floor(index / this.pageSize))?.[
      index % this.pageSize
    ];
  }

  /** Rows shown: the top-level runs plus the children of the expanded ones. */
  get shownTotal(): number {
    let total = this._total ?? 0;
    for (const kids of this._children.values()) {
      total += kids.rows?.length ?? 0;
    }
    return total;
  }

  /** The shown row at `index` (children follow their expanded parent). */
  shownRow(index: number): ITreeRow {
    let shift = 0;
    for (const [root, kids] of this._sortedChildren()) {
      const at = root + shift;
      if (index <= at) {
        break;
      }
      const count = kids.rows?.length ?? 0;
      if (index <= at + count) {
        return { run: kids.rows![index - at - 1], depth: 1, root };
      }
      shift += count;
    }
    const root = index - shift;
    return { run: this.row(root), depth: 0, root };
  }

  /** Whether the children of `runId` are shown. */
  isExpanded(runId: string): boolean {
    for (const kids of this._children.values()) {
      if (kids.runId === runId) {
        return true;
      }
    }
    return false;
  }

  /** Show or hide the children of the top-level run at `root`. */
  async toggleChildren(root: number): Promise<void> {
    const run = this.row(root);
    if (!run) {
      return;
    }
    if (this._children.get(root)?.runId === run.run_id) {
      this._children.delete(root);
      this._changed.emit();
      return;
    }
    this._children.set(root, { runId: run.run_id, rows: null });
    const reply = await this._api.searchRuns({
      ...this._request(),
      parent: run.run_id,
      limit: MAX_CHILDREN,
      offset: 0
    });
    const kids = this._children.get(root);
    if (kids?.runId === run.run_id && !this._disposed) {
      kids.rows = reply.runs;
      this._changed.emit();
    }
  }

  /** Load the pages holding shown rows `first`..`last` (each page once, however often asked). */
  async loadShown(first: number, last: number): Promise<void> {
    const from = this.shownRow(first).root;
    const to = this.shownRow(Math.max(first, last)).root;
    await this.load(from, to);
  }

  /** Load the pages that hold top-level rows `first`..`last`. */
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
    await Promise.all(
      [...this._children.values()].map(async kids => {
        const reply = await this._api.searchRuns({
          ...this._request(),
          parent: kids.runId,
          limit: MAX_CHILDREN,
          offset: 0
        });
        kids.rows = reply.runs;
      })
    );
    if (this._children.size) {
      this._changed.emit();
    }
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
        ...this._request(),
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

  private _request(): IRunsQuery {
    return {
      experiment: this.query.experiment,
      filter: this.query.filter,
      order_by: this.query.order ? [orderClause(this.query.order)] : [],
      tree: true
    };
  }

  private _sortedChildren(): [number, IChildren][] {
    return [...this._children.entries()].sort((a, b) => a[0] - b[0]);
  }

  /** Expanded parents move when new runs arrive: find them again, or fold them. */
  private _relocate(): void {
    const moved = new Map<number, IChildren>();
    for (const [root, kids] of this._children) {
      let found = this.row(root)?.run_id === kids.runId ? root : -1;
      for (const [page, rows] of this._pages) {
        if (found >= 0) {
          break;
        }
        const at = rows.findIndex(r => r.run_id === kids.runId);
        found = at >= 0 ? page * this.pageSize + at : -1;
      }
      if (found >= 0) {
        moved.set(found, kids);
      }
    }
    this._children = moved;
  }

  private _receive(page: number, reply: IRunsPage): void {
    if (this._disposed) {
      return;
    }
    this._pages.set(page, reply.runs);
    this._relocate();
    this._total = reply.total;
    this._metricKeys = reply.metric_keys;
    this._paramKeys = reply.param_keys;
    this._changed.emit();
  }

  private _pages = new Map<number, IRunRow[]>();
  private _children = new Map<number, IChildren>();
  private _pending = new Map<number, Promise<void>>();
  private _total: number | null = null;
  private _metricKeys: string[] = [];
  private _paramKeys: string[] = [];
  private _wanted: [number, number] = [0, PAGE_SIZE - 1];
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}
