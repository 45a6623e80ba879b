/**
 * The Experiments section: the experiment list, a filter box whose errors show inline, the
 * virtualized runs table, and, for the selected runs, metric charts and a param diff.
 */
import { IComparison, MlopsModel } from '../model';
import { IExperiment } from '../tokens';
import { button, element, message, swatch } from './dom';
import { ISeries, lineChart, valueBars } from './charts';
import { RunsTable } from './runsTable';

/** Typing pauses this long (ms) before the filter is sent. */
const FILTER_DELAY_MS = 400;
const FILTER_PLACEHOLDER = "metrics.acc > 0.9 and params.model = 'rf'";

export class ExperimentsSection {
  constructor(private readonly _model: MlopsModel) {
    this.node = element('div', 'jp-mlops-experiments');
    this._notice = element('div', 'jp-mlops-notice');
    this._content = element('div', 'jp-mlops-experiments-content');
    this._list = element('div', 'jp-mlops-experiment-list');
    this._filter = this._filterBox();
    this._filterError = element('pre', 'jp-mlops-filter-error');
    this._filterError.id = 'jp-mlops-filter-error';
    this._filterError.setAttribute('role', 'alert');
    this._summary = element('div', 'jp-mlops-runs-summary');
    this._table = new RunsTable(_model);
    this._runsError = element('div', 'jp-mlops-runs-error');
    this._compare = element('div', 'jp-mlops-compare');
    const filterRow = element('div', 'jp-mlops-filter-row');
    filterRow.appendChild(this._filter);
    this._content.append(
      this._list,
      filterRow,
      this._filterError,
      this._summary,
      this._table.node,
      this._runsError,
      this._compare
    );
    this.node.append(this._notice, this._content);
  }

  readonly node: HTMLElement;

  /** Focus the filter box (palette command). */
  focusFilter(): void {
    this._filter.focus();
  }

  /** Redraw from the model's state; the filter box and the table keep focus and scroll. */
  update(): void {
    const state = this._model.experiments;
    if (state.error !== null && state.data === null) {
      // Only the message: with the extension disabled nothing else could work.
      this._notice.replaceChildren(message(state.error, true));
      this._content.hidden = true;
      return;
    }
    this._notice.replaceChildren();
    this._content.hidden = false;
    this._renderList(state.data);
    this._renderFilterError();
    this._renderSummary();
    this._table.update();
    this._runsError.replaceChildren(
      ...(this._model.runsError ? [message(this._model.runsError)] : [])
    );
    if (
      this._model.comparison !== this._shownComparison ||
      this._selectionChanged()
    ) {
      this._renderComparison(this._model.comparison);
    }
  }

  private _filterBox(): HTMLInputElement {
    const input = element('input', 'jp-mlops-filter jp-mlops-input');
    input.type = 'search';
    input.placeholder = FILTER_PLACEHOLDER;
    input.spellcheck = false;
    input.setAttribute('aria-label', 'Filter runs');
    input.setAttribute('aria-describedby', 'jp-mlops-filter-error');
    input.title =
      "Filter runs in the search_runs dialect, e.g. metrics.acc > 0.9 and params.model = 'rf' " +
      '(OR, parentheses, IN and IS NULL work too). Enter applies at once.';
    const apply = () => {
      window.clearTimeout(this._timer);
      void this._model.setFilter(input.value);
    };
    input.addEventListener('input', () => {
      window.clearTimeout(this._timer);
      this._timer = window.setTimeout(apply, FILTER_DELAY_MS);
    });
    input.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        apply();
      }
    });
    return input;
  }

  private _renderList(experiments: IExperiment[] | null): void {
    if (experiments === null) {
      this._list.replaceChildren(message('Loading…'));
      return;
    }
    if (experiments.length === 0) {
      this._list.replaceChildren(
        message(
          'No experiments yet. Track a cell with %%mlops_track to create one.'
        )
      );
      return;
    }
    const list = element('ul', 'jp-mlops-list');
    list.setAttribute('aria-label', 'Experiments');
    for (const experiment of experiments) {
      const item = element('li', 'jp-mlops-item jp-mlops-clickable');
      item.dataset.experimentId = experiment.experiment_id;
      item.title = `${experiment.name}: click to list only its runs`;
      item.tabIndex = 0;
      const selected = this._model.experiment === experiment.name;
      item.classList.toggle('jp-mod-selected', selected);
      item.setAttribute('aria-selected', String(selected));
      item.appendChild(element('span', 'jp-mlops-item-name', experiment.name));
      const runs =
        experiment.run_count === 1 ? '1 run' : `${experiment.run_count} runs`;
      item.appendChild(element('span', 'jp-mlops-item-count', runs));
      const choose = () =>
        void this._model.setExperiment(selected ? null : experiment.name);
      item.addEventListener('click', choose);
      item.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          choose();
        }
      });
      list.appendChild(item);
    }
    this._list.replaceChildren(list);
  }

  private _renderFilterError(): void {
    const error = this._model.filterError;
    this._filterError.textContent = error ?? '';
    this._filterError.hidden = error === null;
    this._filter.classList.toggle('jp-mod-invalid', error !== null);
    this._filter.setAttribute('aria-invalid', String(error !== null));
  }

  private _renderSummary(): void {
    const pager = this._model.runs;
    const parts: (HTMLElement | string)[] = [];
    if (pager?.total !== null && pager?.total !== undefined) {
      const total = pager.total;
      parts.push(
        element(
          'span',
          'jp-mlops-runs-count',
          `${total.toLocaleString('en-US')} run${total === 1 ? '' : 's'}`
        )
      );
    }
    const experiment = this._model.experiment;
    if (pager === null && this._model.runsError === null) {
      parts.push('Loading runs');
    }
    parts.push(` in ${experiment === null ? 'all experiments' : experiment}`);
    if (experiment !== null) {
      parts.push(
        button(
          'show all',
          () => void this._model.setExperiment(null),
          'jp-mlops-link'
        )
      );
    }
    if (this._model.selected.length) {
      parts.push(
        button(
          'clear selection',
          () => this._model.clearSelection(),
          'jp-mlops-link'
        )
      );
    } else if (pager?.total) {
      parts.push(
        element(
          'span',
          'jp-mlops-hint',
          ' · tick runs to compare, click a name to open it'
        )
      );
    }
    this._summary.replaceChildren(...parts);
  }

  private _selectionChanged(): boolean {
    return this._model.selected.join(',') !== this._shownSelection;
  }

  private _renderComparison(comparison: IComparison | null): void {
    this._shownComparison = comparison;
    this._shownSelection = this._model.selected.join(',');
    if (this._model.selected.length === 0) {
      this._compare.replaceChildren();
      return;
    }
    if (comparison === null) {
      this._compare.replaceChildren(message('Loading the selected runs…'));
      return;
    }
    const order = new Map(this._model.selected.map((id, i) => [id, i]));
    const runs = comparison.runs.filter(run => order.has(run.run_id));
    const title = element(
      'h4',
      'jp-mlops-subtitle',
      runs.length === 1 ? '1 selected run' : `Comparing ${runs.length} runs`
    );
    const legend = element('ul', 'jp-mlops-legend');
    for (const run of runs) {
      const item = element('li', 'jp-mlops-legend-item');
      item.append(
        swatch(order.get(run.run_id)!),
        element('span', '', run.run_name)
      );
      item.title = run.run_id;
      legend.appendChild(item);
    }
    const charts = element('div', 'jp-mlops-charts');
    for (const key of comparison.metricKeys) {
      const series: ISeries[] = runs
        .filter(run => comparison.histories[key]?.[run.run_id])
        .map(run => ({
          label: run.run_name,
          color: order.get(run.run_id)!,
          points: comparison.histories[key][run.run_id].map(p => ({
            x: p.step,
            y: p.value
          }))
        }));
      if (series.every(s => s.points.length <= 1)) {
        // Logged once per run: bars compare them; a line chart would show lone dots.
        charts.appendChild(
          valueBars(
            key,
            series.map(s => ({
              label: s.label,
              color: s.color,
              value: s.points[0]?.y ?? null
            }))
          )
        );
        continue;
      }
      charts.appendChild(lineChart({ title: key, series, xLabel: 'step' }));
    }
    if (comparison.metricKeys.length === 0) {
      charts.appendChild(message('These runs have no metrics.'));
    }
    this._compare.replaceChildren(
      title,
      legend,
      charts,
      this._paramDiff(runs, order)
    );
  }

  private _paramDiff(
    runs: IComparison['runs'],
    order: Map<string, number>
  ): HTMLElement {
    const wrapper = element('div', 'jp-mlops-diff');
    const keys = [
      ...new Set(runs.flatMap(run => Object.keys(run.params)))
    ].sort();
    const differing = keys.filter(
      key => new Set(runs.map(run => run.params[key])).size > 1
    );
    const shown = runs.length === 1 || this._allParams ? keys : differing;
    const head = element('div', 'jp-mlops-diff-head');
    head.appendChild(
      element(
        'h4',
        'jp-mlops-subtitle',
        runs.length === 1
          ? `Params (${keys.length})`
          : `Params that differ (${differing.length} of ${keys.length})`
      )
    );
    if (runs.length > 1 && keys.length > differing.length) {
      const label = element('label', 'jp-mlops-toggle');
      const box = element('input');
      box.type = 'checkbox';
      box.checked = this._allParams;
      box.addEventListener('change', () => {
        this._allParams = box.checked;
        this._renderComparison(this._model.comparison);
      });
      label.append(box, ' show all');
      head.appendChild(label);
    }
    wrapper.appendChild(head);
    if (shown.length === 0) {
      wrapper.appendChild(
        message(keys.length ? 'All params are equal.' : 'No params.')
      );
      return wrapper;
    }
    const table = element('table', 'jp-mlops-diff-table');
    const header = element('tr');
    header.appendChild(element('th', '', 'param'));
    for (const run of runs) {
      const th = element('th');
      th.append(
        swatch(order.get(run.run_id)!),
        element('span', '', run.run_name)
      );
      header.appendChild(th);
    }
    table.appendChild(element('thead')).appendChild(header);
    const body = table.appendChild(element('tbody'));
    for (const key of shown) {
      const row = element('tr');
      row.classList.toggle('jp-mlops-differs', differing.includes(key));
      row.appendChild(element('th', '', key));
      for (const run of runs) {
        const value = run.params[key];
        row.appendChild(
          element(
            'td',
            value === undefined ? 'jp-mlops-missing' : '',
            value ?? '—'
          )
        );
      }
      body.appendChild(row);
    }
    wrapper.appendChild(table);
    return wrapper;
  }

  private readonly _notice: HTMLElement;
  private readonly _content: HTMLElement;
  private readonly _list: HTMLElement;
  private readonly _filter: HTMLInputElement;
  private readonly _filterError: HTMLElement;
  private readonly _summary: HTMLElement;
  private readonly _table: RunsTable;
  private readonly _runsError: HTMLElement;
  private readonly _compare: HTMLElement;
  private _timer = 0;
  private _allParams = false;
  private _shownComparison: IComparison | null = null;
  private _shownSelection = '';
}
