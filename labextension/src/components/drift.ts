/**
 * The Drift section: saved reports (newest first) with a per-column drift chart for the chosen
 * one, and the monitored windows of each deployment as drift over time.
 */
import { MlopsModel } from '../model';
import { IDriftReport, IDriftSeries } from '../tokens';
import { driftBars, lineChart } from './charts';
import { element, formatAgo, formatTime, message } from './dom';

/** Reports listed before "show all". */
const SHOWN_REPORTS = 8;

export class DriftSection {
  constructor(private readonly _model: MlopsModel) {
    this.node = element('div', 'jp-mlops-drift');
  }

  readonly node: HTMLElement;

  update(): void {
    const state = this._model.drift;
    if (state.data === null) {
      this.node.replaceChildren(
        message(state.error ?? 'Loading…', state.error !== null)
      );
      return;
    }
    const { reports, windows } = state.data;
    if (reports.length === 0 && windows.length === 0) {
      this.node.replaceChildren(
        message(
          'No drift yet. %mlops_drift REFERENCE CURRENT keeps its report here; ' +
            'monitor(deployment) keeps its windows.'
        )
      );
      return;
    }
    // Windows and their alerts show whether or not a report was saved.
    const parts: HTMLElement[] = [];
    const alerts = alertsBanner(windows);
    if (alerts) {
      parts.push(alerts);
    }
    if (reports.length) {
      const chosen =
        reports.find(r => r.report_id === this._model.driftReport) ??
        reports[0];
      parts.push(this._list(reports, chosen));
      if (chosen.columns.length) {
        parts.push(columnsChart(chosen));
      }
    }
    parts.push(...windows.map(series => overTime(series)));
    this.node.replaceChildren(...parts);
  }

  private _list(reports: IDriftReport[], chosen: IDriftReport): HTMLElement {
    const list = element('ul', 'jp-mlops-list jp-mlops-report-list');
    list.setAttribute('aria-label', 'Drift reports');
    const shown = this._all ? reports : reports.slice(0, SHOWN_REPORTS);
    for (const report of shown) {
      const item = element(
        'li',
        'jp-mlops-item jp-mlops-clickable jp-mlops-report'
      );
      item.dataset.reportId = report.report_id;
      item.tabIndex = 0;
      item.classList.toggle('jp-mod-selected', report === chosen);
      const label = report.name ?? 'unnamed report';
      const when = report.window_start
        ? `window ${formatTime(report.window_start)}`
        : formatAgo(Date.parse(report.created_at));
      const name = element('span', 'jp-mlops-item-name', label);
      name.title = `${label} · ${formatTime(report.created_at)} · ${report.reference_rows} reference rows, ${report.current_rows} current rows`;
      item.append(
        name,
        element('span', 'jp-mlops-item-count', when),
        element(
          'span',
          report.dataset_drift
            ? 'jp-mlops-badge jp-mlops-fail'
            : 'jp-mlops-badge jp-mlops-pass',
          `${report.dataset_drift ? 'drift' : 'ok'} ${report.n_drifted}/${report.n_tested}`
        )
      );
      const choose = () => this._model.selectDriftReport(report.report_id);
      item.addEventListener('click', choose);
      item.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          choose();
        }
      });
      list.appendChild(item);
    }
    if (reports.length > shown.length) {
      const more = element('li', 'jp-mlops-more');
      const link = element(
        'button',
        'jp-mlops-link',
        `show all ${reports.length} reports`
      );
      link.type = 'button';
      link.addEventListener('click', () => {
        this._all = true;
        this.update();
      });
      more.appendChild(link);
      list.appendChild(more);
    }
    return list;
  }

  private _all = false;
}

/** The alerting windows of every monitored series, newest first (at most five). */
function alertsBanner(windows: IDriftSeries[]): HTMLElement | null {
  const alerts = windows.flatMap(series =>
    series.windows
      .filter(w => w.alert ?? w.dataset_drift)
      .map(w => ({ series: series.name, window: w }))
  );
  if (alerts.length === 0) {
    return null;
  }
  alerts.sort((a, b) =>
    String(b.window.window_start).localeCompare(String(a.window.window_start))
  );
  const box = element('div', 'jp-mlops-drift-alerts');
  box.setAttribute('role', 'status');
  box.appendChild(
    element(
      'p',
      'jp-mlops-drift-alerts-title',
      `⚠ ${alerts.length} drifted window${alerts.length === 1 ? '' : 's'}`
    )
  );
  const list = element('ul', 'jp-mlops-drift-alert-list');
  for (const { series, window } of alerts.slice(0, 5)) {
    const columns = window.drifted_columns?.length
      ? `: ${window.drifted_columns.slice(0, 4).join(', ')}`
      : '';
    list.appendChild(
      element(
        'li',
        'jp-mlops-drift-alert',
        `${series} · ${formatTime(window.window_start ?? window.created_at)}${columns}`
      )
    );
  }
  box.appendChild(list);
  return box;
}

function columnsChart(report: IDriftReport): HTMLElement {
  const box = element('div', 'jp-mlops-drift-columns');
  const verdict = report.dataset_drift ? 'dataset drift' : 'no dataset drift';
  box.appendChild(
    element(
      'h4',
      'jp-mlops-subtitle',
      `${report.name ?? 'report'}: ${verdict} (${Math.round(report.drift_share * 100)}% of columns)`
    )
  );
  box.appendChild(driftBars(report.columns));
  box.appendChild(
    element(
      'p',
      'jp-mlops-hint',
      'Bar: how far each column is past its threshold (line = 1×; p-values on a log scale).'
    )
  );
  return box;
}

function overTime(series: IDriftSeries): HTMLElement {
  const box = element('div', 'jp-mlops-drift-time');
  box.dataset.series = series.name;
  const points = series.windows.map(w => ({
    x: Date.parse(w.window_start ?? w.created_at),
    y: w.drift_share
  }));
  const threshold =
    series.windows[series.windows.length - 1]?.drift_share_threshold ?? null;
  box.appendChild(
    lineChart({
      title: `${series.name || 'windows'}: drifted share over time`,
      series: [
        {
          label: series.name || 'windows',
          color: 0,
          points,
          alerts: series.windows.map(w => w.dataset_drift)
        }
      ],
      threshold,
      yDomain: [0, 1],
      formatX: x => formatTime(x).slice(5)
    })
  );
  return box;
}
