/**
 * The side bar's "Sweeps" section: every sweep, and for the chosen one its best trial, the
 * optimization history, parallel coordinates, importances and trials (with the overfitting
 * flags). It refreshes itself while expanded and visible: every 2 s when a sweep is running,
 * every 15 s otherwise.
 */
import { caretDownIcon } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';

import {
  button,
  element,
  formatDuration,
  formatNumber,
  message
} from '../components/dom';
import { errorMessage } from '../request';
import { createSweepsApi, ISweepsApi } from './api';
import { historyChart, importanceChart, parallelChart, ranked } from './charts';
import { ISweepDetail, ISweepSummary, ITrialRow } from './types';

export const RUNNING_INTERVAL_MS = 2000;
export const IDLE_INTERVAL_MS = 15000;
const MAX_TRIALS_SHOWN = 50;
const STATE_MARK: Record<string, string> = {
  complete: '✓',
  pruned: '✂',
  failed: '✗',
  interrupted: '■',
  running: '●'
};

/** A side bar section in the shape other features add (key, title, rank, node, refresh). */
export class SweepsSection {
  readonly key = 'sweeps';
  readonly title = 'Sweeps';
  readonly rank = 100;
  readonly node: HTMLElement;

  constructor(api: ISweepsApi = createSweepsApi()) {
    this._api = api;
    this.node = element('section', 'jp-mlops-section jp-mlops-sweeps');
    this.node.dataset.section = this.key;
    const heading = element('h3', 'jp-mlops-section-title');
    const toggle = element('button', 'jp-mlops-section-toggle');
    toggle.type = 'button';
    toggle.setAttribute('aria-expanded', 'false');
    toggle.append(
      caretDownIcon.element({ className: 'jp-mlops-caret', tag: 'span' }),
      element('span', 'jp-mlops-section-name', this.title)
    );
    this._body = element('div', 'jp-mlops-section-body');
    this._body.hidden = true;
    toggle.addEventListener('click', () => this._toggle(toggle));
    heading.appendChild(toggle);
    this.node.append(heading, this._body);
    this._poll = new Poll({
      factory: () => this.refresh(),
      frequency: {
        interval: IDLE_INTERVAL_MS,
        backoff: false,
        max: IDLE_INTERVAL_MS
      },
      standby: () =>
        this._body.hidden || !this.node.isConnected || 'when-hidden'
    });
  }

  /** Fetch the list and the chosen sweep again, and redraw. */
  async refresh(): Promise<void> {
    if (this._body.hidden) {
      return;
    }
    try {
      this._sweeps = await this._api.listSweeps();
      const chosen = this._chosen ?? this._sweeps[0];
      this._detail = chosen
        ? await this._api.getSweep(chosen.name, chosen.experiment)
        : null;
      this._error = '';
    } catch (error) {
      this._error = errorMessage(error);
    }
    this._render();
    const running = this._sweeps.some(s => s.state === 'running');
    this._poll.frequency = {
      interval: running ? RUNNING_INTERVAL_MS : IDLE_INTERVAL_MS,
      backoff: false,
      max: IDLE_INTERVAL_MS
    };
  }

  dispose(): void {
    this._poll.dispose();
  }

  private _toggle(toggle: HTMLButtonElement): void {
    const open = this._body.hidden;
    this._body.hidden = !open;
    this.node.classList.toggle('jp-mod-expanded', open);
    toggle.setAttribute('aria-expanded', String(open));
    if (open) {
      void this.refresh();
    }
  }

  private _render(): void {
    if (this._error) {
      this._body.replaceChildren(message(this._error, true));
      return;
    }
    if (!this._sweeps.length) {
      this._body.replaceChildren(
        message(
          'No sweeps yet: run a %%mlops_sweep cell (or mlops.sweep) in a notebook.'
        )
      );
      return;
    }
    this._body.replaceChildren(
      this._list(),
      ...(this._detail ? this._view(this._detail) : [])
    );
  }

  private _list(): HTMLElement {
    const list = element('ul', 'jp-mlops-sweep-list');
    for (const sweep of this._sweeps) {
      const item = element('li', 'jp-mlops-sweep-item');
      const chosen = this._detail?.parent_run_id === sweep.parent_run_id;
      item.classList.toggle('jp-mod-selected', chosen);
      item.tabIndex = 0;
      item.title = `${sweep.name} (${sweep.experiment}): ${sweep.state}`;
      item.append(
        element(
          'span',
          `jp-mlops-sweep-state jp-mlops-sweep-${sweep.state}`,
          sweep.state
        ),
        element('span', 'jp-mlops-sweep-name', sweep.name),
        element(
          'span',
          'jp-mlops-hint',
          `${sweep.experiment} · ${sweep.metric} ${formatNumber(sweep.best_value)}`
        )
      );
      const choose = () => {
        this._chosen = sweep;
        void this.refresh();
      };
      item.addEventListener('click', choose);
      item.addEventListener('keydown', event => {
        if (event.key === 'Enter') {
          choose();
        }
      });
      list.appendChild(item);
    }
    return list;
  }

  private _view(detail: ISweepDetail): HTMLElement[] {
    const counts = Object.entries(detail.counts)
      .map(([k, n]) => `${n} ${k}`)
      .join(' · ');
    const budget = detail.budget ? ` of ${detail.budget}` : '';
    const head = element('div', 'jp-mlops-sweep-head');
    head.append(
      element(
        'div',
        'jp-mlops-sweep-title',
        `${detail.name} · ${detail.state}`
      ),
      element(
        'div',
        'jp-mlops-hint',
        `${detail.trials.length}${budget} trials: ${counts || 'none'} · ${detail.direction} ${detail.metric}`
      )
    );
    if (detail.best) {
      const params = Object.entries(detail.best.params)
        .map(([k, v]) => `${k}=${shortParam(v)}`)
        .join(', ');
      head.appendChild(
        element(
          'div',
          'jp-mlops-sweep-bestline',
          `Best: ${detail.metric} = ${formatNumber(detail.best.value)} (trial ${detail.best.number}: ${params})`
        )
      );
    }
    const flagged = detail.trials.filter(t => t.overfit);
    if (flagged.length) {
      head.appendChild(
        element(
          'div',
          'jp-mlops-sweep-warning',
          `⚠ overfitting in trial(s) ${flagged.map(t => t.number).join(', ')}: validation worsened while training improved`
        )
      );
    }
    return [
      head,
      figure('Optimization history', historyChart(detail)),
      figure('Parallel coordinates', parallelChart(detail)),
      figure('Parameter importances', importanceChart(detail)),
      this._trials(detail)
    ];
  }

  private _trials(detail: ISweepDetail): HTMLElement {
    const box = element('div', 'jp-mlops-sweep-trials');
    box.appendChild(
      element(
        'div',
        'jp-mlops-sweep-caption',
        'Trials, best first (✓ complete ✂ pruned ✗ failed ■ interrupted): click to compare'
      )
    );
    const scroll = element('div', 'jp-mlops-scroll');
    const table = element('table', 'jp-mlops-table jp-mlops-sweep-table');
    const names = Object.keys(detail.space);
    const headRow = element('tr');
    const columns = ['#', '', detail.metric, ...names];
    if (detail.pair) {
      columns.push('gap');
    }
    columns.push('time', '');
    for (const name of columns) {
      headRow.appendChild(element('th', '', name));
    }
    table.appendChild(element('thead')).appendChild(headRow);
    const body = element('tbody');
    for (const trial of ranked(detail).slice(0, MAX_TRIALS_SHOWN)) {
      const row = element('tr');
      row.dataset.runId = trial.run_id;
      row.classList.toggle('jp-mod-selected', this._selected.has(trial.run_id));
      row.classList.toggle(
        'jp-mlops-sweep-best',
        detail.best?.run_id === trial.run_id
      );
      row.append(
        element('td', 'jp-mlops-num', String(trial.number)),
        stateCell(trial.state),
        element('td', 'jp-mlops-num', formatNumber(trial.value)),
        ...names.map(n =>
          element('td', 'jp-mlops-num', shortParam(trial.params[n]))
        ),
        ...(detail.pair
          ? [element('td', 'jp-mlops-num', formatNumber(trial.gap))]
          : []),
        element('td', 'jp-mlops-num', formatDuration(trial.duration_s)),
        element(
          'td',
          trial.overfit ? 'jp-mlops-sweep-warning' : 'jp-mlops-hint',
          trial.overfit ? '⚠' : ''
        )
      );
      row.title = trial.overfit || trial.error || trial.run_name;
      row.addEventListener('click', () => {
        if (!this._selected.delete(trial.run_id)) {
          this._selected.add(trial.run_id);
        }
        this._render();
      });
      body.appendChild(row);
    }
    table.appendChild(body);
    scroll.appendChild(table);
    box.appendChild(scroll);
    const chosen = ranked(detail).filter(t => this._selected.has(t.run_id));
    if (chosen.length) {
      box.append(
        compareTable(detail, chosen),
        button('Clear', () => {
          this._selected.clear();
          this._render();
        })
      );
    }
    return box;
  }

  private readonly _api: ISweepsApi;
  private readonly _body: HTMLElement;
  private readonly _poll: Poll;
  private readonly _selected = new Set<string>();
  private _sweeps: ISweepSummary[] = [];
  private _chosen: ISweepSummary | null = null;
  private _detail: ISweepDetail | null = null;
  private _error = '';
}

function stateCell(state: string): HTMLElement {
  const cell = element(
    'td',
    `jp-mlops-sweep-mark jp-mlops-sweep-${state}`,
    STATE_MARK[state] ?? '?'
  );
  cell.title = state;
  return cell;
}

function figure(title: string, chart: SVGSVGElement): HTMLElement {
  const node = element('figure', 'jp-mlops-sweep-figure');
  node.append(element('figcaption', 'jp-mlops-sweep-caption', title), chart);
  return node;
}

/** Selected trials side by side: params (differences marked) and metrics. */
export function compareTable(
  detail: ISweepDetail,
  trials: ITrialRow[]
): HTMLElement {
  const table = element('table', 'jp-mlops-table jp-mlops-sweep-compare');
  const head = element('tr');
  head.appendChild(element('th', '', 'trial'));
  for (const t of trials) {
    head.appendChild(element('th', '', `#${t.number}`));
  }
  table.appendChild(element('thead')).appendChild(head);
  const body = element('tbody');
  const keys = [
    ...Object.keys(detail.space).map(k => ['params', k]),
    ...[...new Set(trials.flatMap(t => Object.keys(t.metrics)))]
      .sort()
      .map(k => ['metrics', k])
  ];
  for (const [kind, key] of keys) {
    const row = element('tr');
    const values = trials.map(t =>
      kind === 'params'
        ? shortParam(t.params[key])
        : formatNumber(t.metrics[key])
    );
    row.appendChild(
      element('th', new Set(values).size > 1 ? 'jp-mlops-differs' : '', key)
    );
    for (const value of values) {
      row.appendChild(element('td', 'jp-mlops-num', value));
    }
    body.appendChild(row);
  }
  table.appendChild(body);
  const scroll = element('div', 'jp-mlops-scroll');
  scroll.appendChild(table);
  return scroll;
}

function shortParam(value: string | undefined): string {
  if (value === undefined) {
    return '—';
  }
  const number = Number(value);
  return value.trim() !== '' && Number.isFinite(number)
    ? formatNumber(number)
    : value;
}
