/**
 * The side bar's state: what each section shows, fetched through the API and refreshed by a
 * `@lumino/polling` Poll while the side bar is visible. No DOM here: the widgets in
 * `components/` render this state and call its methods.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError, errorMessage } from './request';
import { IRunsTableQuery, ISortOrder, PAGE_SIZE, RunsPager } from './runs';

import {
  IDeployment,
  IDriftList,
  IExperiment,
  IMetricPoint,
  IMlopsApi,
  IModelDetail,
  IPromoteReply,
  IPromoteRequest,
  IRegisteredModel,
  IRunDetail
} from './tokens';

/** The four sections of the side bar, top to bottom. */
export const SECTION_KEYS = [
  'experiments',
  'models',
  'deployments',
  'drift'
] as const;
export type SectionKey = (typeof SECTION_KEYS)[number];

/** Default refresh interval (ms); the settings editor changes it. */
export const DEFAULT_INTERVAL_MS = 10_000;
/** At most this many runs are compared at once (one colour each). */
export const MAX_SELECTED = 8;
/** At most this many metrics get a chart in the comparison. */
export const MAX_CHARTS = 6;

/** Data of one section: the last answer, or why there is none. */
export interface ILoadState<T> {
  data: T | null;
  error: string | null;
  /** The API answered a bare 404: the server extension is not enabled. */
  notEnabled: boolean;
}

function emptyState<T>(): ILoadState<T> {
  return { data: null, error: null, notEnabled: false };
}

/** The selected runs, their details, and their metric histories by key and run. */
export interface IComparison {
  runs: IRunDetail['run'][];
  metricKeys: string[];
  histories: Record<string, Record<string, IMetricPoint[]>>;
}

/** Options of {@link MlopsModel}. */
export interface IMlopsModelOptions {
  api: IMlopsApi;
  /** Refresh interval in ms (default {@link DEFAULT_INTERVAL_MS}). */
  interval?: number;
  /** Whether the document is hidden (default: `document.hidden`). */
  documentHidden?: () => boolean;
}

/**
 * Everything the side bar shows, refreshed while it is visible.
 */
export class MlopsModel implements IDisposable {
  constructor(options: IMlopsModelOptions) {
    this.api = options.api;
    const hidden =
      options.documentHidden ??
      (() => typeof document !== 'undefined' && document.hidden);
    this._interval = options.interval ?? DEFAULT_INTERVAL_MS;
    this.poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: { interval: this._interval, backoff: true, max: 300_000 },
      name: 'jupyter-mlops:sidebar',
      standby: () => !this._visible || hidden()
    });
  }

  readonly api: IMlopsApi;
  /** Refreshes the expanded sections every {@link interval} ms while visible. */
  readonly poll: Poll;

  /** Emitted with the section whose state changed. */
  get changed(): ISignal<this, SectionKey> {
    return this._changed;
  }

  /** The refresh interval in ms. */
  get interval(): number {
    return this._interval;
  }
  set interval(ms: number) {
    if (!Number.isFinite(ms) || ms <= 0 || ms === this._interval) {
      return;
    }
    this._interval = ms;
    this.poll.frequency = { ...this.poll.frequency, interval: ms };
  }

  /** Whether the side bar is on screen; polling stands by while it is not. */
  get visible(): boolean {
    return this._visible;
  }
  set visible(visible: boolean) {
    if (visible === this._visible) {
      return;
    }
    this._visible = visible;
    if (visible) {
      void this.poll.start().then(() => this.poll.refresh());
    }
  }

  /** Sections whose content is shown (and refreshed). */
  get expanded(): ReadonlySet<SectionKey> {
    return this._expanded;
  }

  /** Show or hide a section's content; a newly shown section is fetched at once. */
  setExpanded(section: SectionKey, expanded: boolean): void {
    if (expanded === this._expanded.has(section)) {
      return;
    }
    if (expanded) {
      this._expanded.add(section);
      void this.refresh([section]);
    } else {
      this._expanded.delete(section);
    }
    this._changed.emit(section);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.poll.dispose();
    this._runs?.dispose();
    Signal.clearData(this);
  }

  /** Fetch the given sections (default: the expanded ones, and every added section). */
  async refresh(sections?: Iterable<SectionKey>): Promise<void> {
    const work: Promise<void>[] = [];
    for (const section of sections ?? this._expanded) {
      work.push(this._refreshers[section]());
    }
    if (sections === undefined) {
      for (const refresh of this.extraRefreshers) {
        work.push(refresh().catch(() => undefined)); // a section shows its own errors
      }
    }
    await Promise.all(work);
  }

  /**
   * Refreshers of sections added to the side bar by other features (sweeps, contracts...):
   * called with every poll and every Refresh, while the side bar is visible.
   */
  readonly extraRefreshers = new Set<() => Promise<void>>();

  // -- experiments and runs ---------------------------------------------------------------------

  experiments: ILoadState<IExperiment[]> = emptyState();

  /** The experiment whose runs are listed (`null`: every experiment). */
  get experiment(): string | null {
    return this._query.experiment;
  }

  /** The filter of the runs table, as typed. */
  get filter(): string {
    return this._query.filter;
  }

  /** The server's message about the current filter, or `null` when it is fine. */
  get filterError(): string | null {
    return this._filterError;
  }

  /** The runs table's sort order (`null`: newest first). */
  get order(): ISortOrder | null {
    return this._query.order;
  }

  /** The rows of the runs table (`null` before the first answer). */
  get runs(): RunsPager | null {
    return this._runs;
  }

  /** Why the runs could not be listed (other than a bad filter). */
  get runsError(): string | null {
    return this._runsError;
  }

  /** Ids of the selected runs, in the order they were selected. */
  get selected(): readonly string[] {
    return this._selected;
  }

  /** The selected runs' details and metric histories. */
  get comparison(): IComparison | null {
    return this._comparison;
  }

  /** List the runs of `experiment` (`null`: every experiment). */
  setExperiment(experiment: string | null): Promise<void> {
    return this._query.experiment === experiment
      ? Promise.resolve()
      : this._search({ ...this._query, experiment });
  }

  /** Filter the runs; a filter the server refuses sets {@link filterError}, rows stay. */
  setFilter(filter: string): Promise<void> {
    return filter.trim() === this._query.filter.trim() &&
      this._filterError === null
      ? Promise.resolve()
      : this._search({ ...this._query, filter });
  }

  /** Sort by `key`: descending first, then ascending, then back to the default. */
  toggleOrder(key: string): Promise<void> {
    const current = this._query.order;
    let order: ISortOrder | null = { key, descending: true };
    if (current?.key === key) {
      order = current.descending ? { key, descending: false } : null;
    }
    return this._search({ ...this._query, order });
  }

  /** Select a run for comparison, or unselect it. */
  toggleRun(runId: string): Promise<void> {
    const index = this._selected.indexOf(runId);
    if (index >= 0) {
      this._selected = this._selected.filter(id => id !== runId);
    } else {
      this._selected = [...this._selected, runId].slice(-MAX_SELECTED);
    }
    this._changed.emit('experiments');
    return this._compare();
  }

  /** Open the run page of `runId` (the plugin sets how: a main-area tab). */
  openRun(runId: string): void {
    this._runOpener?.(runId);
  }

  /** How {@link openRun} opens a run page. */
  set runOpener(opener: ((runId: string) => void) | null) {
    this._runOpener = opener;
  }

  /** Forget the selection. */
  clearSelection(): void {
    this._selected = [];
    this._comparison = null;
    this._changed.emit('experiments');
  }

  private async _search(query: IRunsTableQuery): Promise<void> {
    const pager = new RunsPager(this.api, query);
    this._query = query;
    const generation = ++this._searches;
    try {
      await pager.load(0, PAGE_SIZE - 1);
    } catch (error) {
      pager.dispose();
      if (generation !== this._searches) {
        return;
      }
      if (error instanceof ApiError && error.status === 400) {
        this._filterError = error.message;
      } else {
        this._runsError = errorMessage(error);
      }
      this._changed.emit('experiments');
      return;
    }
    if (generation !== this._searches) {
      pager.dispose();
      return;
    }
    this._replaceRuns(pager);
  }

  private _replaceRuns(pager: RunsPager): void {
    this._runs?.dispose();
    this._runs = pager;
    this._filterError = null;
    this._runsError = null;
    pager.changed.connect(() => this._changed.emit('experiments'), this);
    this._changed.emit('experiments');
  }

  private async _refreshExperiments(): Promise<void> {
    // The list and the runs are fetched together: the runs do not depend on the list, and the
    // server answers in order, so the table's first page is not queued behind other sections.
    await Promise.all([
      this._load(
        'experiments',
        () => this.api.listExperiments(),
        state => {
          this.experiments = state;
        }
      ),
      this._refreshRuns()
    ]);
    if (this._comparison?.runs.some(run => run.status === 'RUNNING')) {
      await this._compare();
    }
  }

  private async _refreshRuns(): Promise<void> {
    if (this._runs === null) {
      if (this._filterError === null) {
        await this._search(this._query);
      }
      return;
    }
    try {
      await this._runs.refresh();
      this._runsError = null;
    } catch (error) {
      this._runsError = errorMessage(error);
      this._changed.emit('experiments');
    }
  }

  private async _compare(): Promise<void> {
    const ids = [...this._selected];
    const generation = ++this._comparisons;
    if (ids.length === 0) {
      this._comparison = null;
      this._changed.emit('experiments');
      return;
    }
    try {
      const runs = (await Promise.all(ids.map(id => this.api.getRun(id)))).map(
        r => r.run
      );
      const metricKeys = [
        ...new Set(runs.flatMap(run => Object.keys(run.metrics)))
      ]
        .sort()
        .slice(0, MAX_CHARTS);
      const histories: IComparison['histories'] = {};
      await Promise.all(
        metricKeys.flatMap(key =>
          runs
            .filter(run => key in run.metrics)
            .map(async run => {
              const reply = await this.api.getMetricHistory(run.run_id, key);
              (histories[key] ??= {})[run.run_id] = reply.history;
            })
        )
      );
      if (generation === this._comparisons) {
        this._comparison = { runs, metricKeys, histories };
        this._changed.emit('experiments');
      }
    } catch (error) {
      if (generation === this._comparisons) {
        this._runsError = errorMessage(error);
        this._changed.emit('experiments');
      }
    }
  }

  // -- models -------------------------------------------------------------------------------------

  models: ILoadState<IRegisteredModel[]> = emptyState();
  modelDetail: ILoadState<IModelDetail> = emptyState();

  /** The model whose versions are shown. */
  get model(): string | null {
    return this._model;
  }

  /** Show the versions, aliases and alias history of `name` (`null`: none). */
  async selectModel(name: string | null): Promise<void> {
    this._model = name;
    this.modelDetail = emptyState();
    this._changed.emit('models');
    if (name !== null) {
      await this._loadModel(name);
    }
  }

  /** Promote through the gate; an ApiError (409 with `body.report`) when it refuses. */
  async promote(
    name: string,
    request: IPromoteRequest
  ): Promise<IPromoteReply> {
    try {
      return await this.api.promote(name, request);
    } finally {
      await this.refresh(['models']);
    }
  }

  private async _refreshModels(): Promise<void> {
    await this._load(
      'models',
      () => this.api.listModels(),
      state => {
        this.models = state;
      }
    );
    if (this._model !== null) {
      await this._loadModel(this._model);
    }
  }

  private _loadModel(name: string): Promise<void> {
    return this._load(
      'models',
      () => this.api.getModel(name),
      state => {
        if (this._model === name) {
          this.modelDetail = state;
        }
      }
    );
  }

  // -- deployments --------------------------------------------------------------------------------

  deployments: ILoadState<IDeployment[]> = emptyState();

  /** Stop a deployment and refresh the list. */
  async stopDeployment(name: string): Promise<IDeployment> {
    try {
      return await this.api.stopDeployment(name);
    } finally {
      await this.refresh(['deployments']);
    }
  }

  // -- drift ---------------------------------------------------------------------------------------

  drift: ILoadState<IDriftList> = emptyState();
  /** The drift report whose columns are charted (`null`: the newest). */
  driftReport: string | null = null;

  /** Chart the columns of another report. */
  selectDriftReport(reportId: string | null): void {
    this.driftReport = reportId;
    this._changed.emit('drift');
  }

  // -- plumbing -------------------------------------------------------------------------------------

  private async _load<T>(
    section: SectionKey,
    fetch: () => Promise<T>,
    store: (state: ILoadState<T>) => void
  ): Promise<void> {
    let state: ILoadState<T>;
    try {
      state = { data: await fetch(), error: null, notEnabled: false };
    } catch (error) {
      const notEnabled = error instanceof ApiError && error.notEnabled;
      state = { data: null, error: errorMessage(error), notEnabled };
    }
    if (!this._disposed) {
      store(state);
      this._changed.emit(section);
    }
  }

  private _refreshers: Record<SectionKey, () => Promise<void>> = {
    experiments: () => this._refreshExperiments(),
    models: () => this._refreshModels(),
    deployments: () =>
      this._load(
        'deployments',
        () => this.api.listDeployments(),
        state => {
          this.deployments = state;
        }
      ),
    drift: () =>
      this._load(
        'drift',
        () => this.api.getDrift(),
        state => {
          this.drift = state;
        }
      )
  };

  private _changed = new Signal<this, SectionKey>(this);
  private _disposed = false;
  private _visible = false;
  private _interval: number;
  private _expanded = new Set<SectionKey>(SECTION_KEYS);
  private _query: IRunsTableQuery = {
    experiment: null,
    filter: '',
    order: null
  };
  private _searches = 0;
  private _comparisons = 0;
  private _runs: RunsPager | null = null;
  private _filterError: string | null = null;
  private _runsError: string | null = null;
  private _selected: string[] = [];
  private _comparison: IComparison | null = null;
  private _model: string | null = null;
  private _runOpener: ((runId: string) => void) | null = null;
}
