/**
 * The run page: one run whole in a main-area tab, as MLflow's and W&B's run pages show it.
 *
 * The page is a list of sections drawn from one reply (`GET runs/<id>/page`, the data that
 * `%mlops_run` shows too). Sections come from a registry: another feature adds its own with
 * {@link registerRunPageSection} (a title, a rank, and a function from the page's data to a
 * node, or `null` to stay hidden); sections the server adds (`register_section` in
 * `jupyter_mlops/viz/run_page.py`) are drawn as key/value tables unless a registered section
 * claims them.
 */
import { Widget } from '@lumino/widgets';

import { artifactUrl } from './api';
import { lineChart } from './components/charts';
import {
  element,
  formatDuration,
  formatNumber,
  formatTime,
  message
} from './components/dom';
import { mlopsIcon } from './icons';
import { RUN_LINK_PREFIX } from './links';
import { errorMessage } from './request';
import { IMlopsApi, IRunLink, IRunPage, ITextPreview } from './tokens';

/** What a section gets besides the page's data. */
export interface IRunPageContext {
  /** Open another run's page (parent, children). */
  openRun(runId: string): void;
}

/** One section of the run page. */
export interface IRunPageSection {
  /** Unique id; also `data-section` of the rendered node. */
  id: string;
  title: string;
  /** Sections are drawn by rank, lowest first (built-ins use 10, 20, ... 100). */
  rank: number;
  /** The section's content, or `null` when the run has nothing for it. */
  render(page: IRunPage, context: IRunPageContext): HTMLElement | null;
  /** Server-side sections (`page.sections` keys) this one draws itself. */
  claims?: string[];
}

const SECTIONS: IRunPageSection[] = [];

/** Add a section to every run page (also to pages already open, on their next refresh). */
export function registerRunPageSection(section: IRunPageSection): void {
  const at = SECTIONS.findIndex(s => s.id === section.id);
  if (at >= 0) {
    SECTIONS.splice(at, 1);
  }
  SECTIONS.push(section);
  SECTIONS.sort((a, b) => a.rank - b.rank);
}

/** The sections registered so far, by rank. */
export function runPageSections(): readonly IRunPageSection[] {
  return SECTIONS;
}

export { RUN_LINK_PREFIX, runIdOfLink } from './links';

/** The run page widget: fetched once when opened, again with its Refresh button. */
export class RunPage extends Widget {
  constructor(
    private readonly _api: IMlopsApi,
    readonly runId: string,
    private readonly _context: IRunPageContext
  ) {
    super();
    this.id = `jupyter-mlops-run-${runId}`;
    this.addClass('jp-mlops-run-page');
    this.title.label = `Run ${runId.slice(0, 8)}`;
    this.title.icon = mlopsIcon;
    this.title.closable = true;
    this.node.tabIndex = -1;
    this.node.appendChild(message('Loading the run…'));
    void this.refresh();
  }

  /** The last answer (`null` before it). */
  get page(): IRunPage | null {
    return this._page;
  }

  /** Fetch the run again and redraw. */
  async refresh(): Promise<void> {
    try {
      this._page = await this._api.getRunPage(this.runId);
    } catch (error) {
      this.node.replaceChildren(message(errorMessage(error), true));
      return;
    }
    this.render();
  }

  /** Draw every section from the last answer. */
  render(): void {
    const page = this._page;
    if (!page) {
      return;
    }
    this.title.label = page.run.run_name || this.runId.slice(0, 8);
    this.title.caption = `${page.run.run_name} (${page.run.run_id}) in ${page.run.experiment}`;
    const nodes: HTMLElement[] = [this._header(page)];
    const claimed = new Set(SECTIONS.flatMap(s => s.claims ?? []));
    for (const section of SECTIONS) {
      let body: HTMLElement | null;
      try {
        body = section.render(page, this._context);
      } catch (error) {
        body = message(`${section.title}: ${errorMessage(error)}`, true);
      }
      if (body) {
        nodes.push(wrap(section.id, section.title, body));
      }
    }
    for (const [name, value] of Object.entries(page.sections ?? {})) {
      if (!claimed.has(name)) {
        nodes.push(wrap(`server-${name}`, name, keyValues(value)));
      }
    }
    this.node.replaceChildren(...nodes);
  }

  private _header(page: IRunPage): HTMLElement {
    const run = page.run;
    const header = element('header', 'jp-mlops-run-header');
    const title = element(
      'h1',
      'jp-mlops-run-title',
      run.run_name || run.run_id
    );
    const facts = element('div', 'jp-mlops-run-facts');
    const status = element(
      'span',
      `jp-mlops-status jp-mlops-status-${run.status.toLowerCase()}`,
      `● ${run.status}`
    );
    facts.append(
      status,
      fact('experiment', run.experiment),
      fact('started', formatTime(run.start_time)),
      fact('duration', formatDuration(run.duration_s)),
      fact('id', run.run_id, 'jp-mlops-run-id')
    );
    if (page.parent) {
      const parent = fact('child of', '');
      parent.appendChild(runLink(page.parent, this._context));
      facts.appendChild(parent);
    }
    const refresh = element(
      'button',
      'jp-mlops-button jp-mlops-run-refresh',
      'Refresh'
    );
    refresh.type = 'button';
    refresh.addEventListener('click', () => void this.refresh());
    header.append(title, facts, refresh);
    const error = run.tags['mlops.error'];
    if (error) {
      header.appendChild(element('pre', 'jp-mlops-filter-error', error));
    }
    return header;
  }

  private _page: IRunPage | null = null;
}

function wrap(id: string, title: string, body: HTMLElement): HTMLElement {
  const section = element('section', 'jp-mlops-run-section');
  section.dataset.section = id;
  section.append(element('h2', 'jp-mlops-run-section-title', title), body);
  return section;
}

function fact(label: string, value: string, className = ''): HTMLElement {
  const node = element('span', `jp-mlops-run-fact ${className}`.trim());
  node.append(element('span', 'jp-mlops-run-fact-label', `${label} `));
  if (value) {
    node.append(element('span', 'jp-mlops-run-fact-value', value));
  }
  return node;
}

/** A link to another run's page. */
export function runLink(run: IRunLink, context: IRunPageContext): HTMLElement {
  const link = element(
    'a',
    'jp-mlops-run-link',
    run.run_name || run.run_id.slice(0, 8)
  );
  link.href = `${RUN_LINK_PREFIX}${encodeURIComponent(run.run_id)}`;
  link.title = run.run_id;
  link.addEventListener('click', event => {
    event.preventDefault();
    event.stopPropagation();
    context.openRun(run.run_id);
  });
  return link;
}

/** A two-column table of a mapping (values as text). */
export function keyValues(mapping: Record<string, unknown>): HTMLElement {
  const table = element('table', 'jp-mlops-kv-table');
  const body = table.appendChild(element('tbody'));
  for (const key of Object.keys(mapping).sort()) {
    const value = mapping[key];
    const row = body.appendChild(element('tr'));
    row.append(
      element('th', '', key),
      element(
        'td',
        '',
        typeof value === 'string' ? value : JSON.stringify(value)
      )
    );
  }
  return table;
}

function preText(preview: ITextPreview): HTMLElement {
  const box = element('div');
  box.appendChild(element('pre', 'jp-mlops-run-code', preview.text));
  if (preview.truncated) {
    box.appendChild(
      element(
        'p',
        'jp-mlops-hint',
        '… cut here: the whole file is an artifact of the run.'
      )
    );
  }
  return box;
}

function table(head: string[], rows: string[][]): HTMLElement {
  const node = element('table', 'jp-mlops-run-table');
  const tr = node.appendChild(element('thead')).appendChild(element('tr'));
  tr.append(...head.map(h => element('th', '', h)));
  const body = node.appendChild(element('tbody'));
  for (const row of rows) {
    body
      .appendChild(element('tr'))
      .append(...row.map(c => element('td', '', c)));
  }
  return node;
}

// -- built-in sections -------------------------------------------------------------------------

function metricsSection(page: IRunPage): HTMLElement | null {
  const entries = Object.entries(page.run.metrics).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  if (entries.length === 0) {
    return null;
  }
  const rows = entries.map(([key, m]) => [
    key,
    formatNumber(m.last),
    formatNumber(m.min),
    formatNumber(m.max),
    String(m.count)
  ]);
  const node = table(['metric', 'last', 'min', 'max', 'steps'], rows);
  node.classList.add('jp-mlops-run-metrics');
  return node;
}

function chartsSection(page: IRunPage): HTMLElement | null {
  const keys = Object.keys(page.histories)
    .filter(key => page.histories[key].step.length > 1)
    .sort();
  if (keys.length === 0) {
    return null;
  }
  const grid = element('div', 'jp-mlops-run-charts');
  for (const key of keys) {
    const history = page.histories[key];
    const points = history.step.map((step, i) => ({
      x: step,
      y: history.value[i]
    }));
    grid.appendChild(
      lineChart({
        title: key,
        series: [{ label: key, color: 0, points }],
        xLabel: 'step',
        width: 320,
        height: 170
      })
    );
  }
  return grid;
}

function paramsSection(page: IRunPage): HTMLElement | null {
  return Object.keys(page.run.params).length
    ? keyValues(page.run.params)
    : null;
}

function tagsSection(page: IRunPage): HTMLElement | null {
  const tags = { ...page.run.tags };
  delete tags['mlops.error'];
  return Object.keys(tags).length ? keyValues(tags) : null;
}

function codeSection(page: IRunPage): HTMLElement | null {
  if (!page.code) {
    return null;
  }
  const box = preText(page.code);
  box.prepend(element('p', 'jp-mlops-hint', page.code.path));
  return box;
}

function gitSection(page: IRunPage): HTMLElement | null {
  if (!page.git) {
    return null;
  }
  const { diff, ...facts } = page.git;
  const box = element('div');
  box.appendChild(keyValues(facts));
  if (diff) {
    box.appendChild(element('h3', 'jp-mlops-subtitle', 'Uncommitted changes'));
    box.appendChild(preText(diff));
  }
  return box;
}

function environmentSection(page: IRunPage): HTMLElement | null {
  if (!page.environment) {
    return null;
  }
  const { requirements, ...facts } = page.environment;
  const box = element('div');
  box.appendChild(keyValues(facts));
  if (requirements) {
    const details = element('details');
    const count = requirements.text.split('\n').filter(Boolean).length;
    details.appendChild(element('summary', '', `${count} packages`));
    details.appendChild(preText(requirements));
    box.appendChild(details);
  }
  return box;
}

function datasetsSection(page: IRunPage): HTMLElement | null {
  if (!page.datasets.length) {
    return null;
  }
  const keys = ['name', 'context', 'rows', 'columns', 'digest'];
  const rows = page.datasets.map(d =>
    keys.map(k => {
      const value = d[k];
      if (Array.isArray(value)) {
        return value.slice(0, 8).join(', ') + (value.length > 8 ? ' …' : '');
      }
      return value === undefined || value === null ? '—' : String(value);
    })
  );
  return table(keys, rows);
}

const SHOWN_IN_SECTIONS = new Set([
  'code/cell.py',
  'git/diff.patch',
  'environment/requirements.txt'
]);

function artifactsSection(page: IRunPage): HTMLElement | null {
  if (!page.artifacts.length) {
    return null;
  }
  const box = element('div', 'jp-mlops-run-artifacts');
  for (const artifact of page.artifacts) {
    const item = element('div', 'jp-mlops-run-artifact');
    item.dataset.path = artifact.path;
    const link = element('a', 'jp-mlops-artifact-link', artifact.path);
    link.href = artifactUrl(page.run.run_id, artifact.path);
    link.target = '_blank';
    link.rel = 'noopener';
    const size = element(
      'span',
      'jp-mlops-hint',
      ` ${formatBytes(artifact.size)}`
    );
    item.append(link, size);
    const preview = artifact.preview;
    if (preview && !SHOWN_IN_SECTIONS.has(artifact.path)) {
      if (preview.kind === 'image' && preview.mime !== 'image/svg+xml') {
        const img = element('img', 'jp-mlops-artifact-image');
        img.src = link.href;
        img.alt = artifact.path;
        item.appendChild(img);
      } else if (preview.kind === 'text') {
        item.appendChild(preText(preview));
      } else if (preview.kind === 'table') {
        item.appendChild(table(preview.columns, preview.rows));
      } else if (preview.kind === 'model') {
        item.appendChild(
          element(
            'p',
            'jp-mlops-hint',
            `model: mlops.load_model("runs:/${page.run.run_id}/${preview.model}")`
          )
        );
      }
    }
    box.appendChild(item);
  }
  return box;
}

function formatBytes(size: number): string {
  if (!Number.isFinite(size)) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = size;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function childrenSection(
  page: IRunPage,
  context: IRunPageContext
): HTMLElement | null {
  if (!page.children.length) {
    return null;
  }
  const keys = [
    ...new Set(page.children.flatMap(c => Object.keys(c.metrics ?? {})))
  ]
    .sort()
    .slice(0, 6);
  const node = element('table', 'jp-mlops-run-table jp-mlops-run-children');
  const head = node.appendChild(element('thead')).appendChild(element('tr'));
  head.append(
    ...['run', 'status', 'started', ...keys].map(h => element('th', '', h))
  );
  const body = node.appendChild(element('tbody'));
  for (const child of page.children) {
    const row = body.appendChild(element('tr'));
    row.dataset.runId = child.run_id;
    const name = element('td');
    name.appendChild(runLink(child, context));
    row.append(
      name,
      element('td', '', child.status ?? ''),
      element('td', '', formatTime(child.start_time ?? null)),
      ...keys.map(k =>
        element('td', 'jp-mlops-num', formatNumber(child.metrics?.[k]))
      )
    );
  }
  return node;
}

for (const section of [
  { id: 'metrics', title: 'Metrics', rank: 10, render: metricsSection },
  { id: 'charts', title: 'Metric charts', rank: 20, render: chartsSection },
  { id: 'params', title: 'Params', rank: 30, render: paramsSection },
  { id: 'children', title: 'Child runs', rank: 40, render: childrenSection },
  { id: 'datasets', title: 'Datasets', rank: 50, render: datasetsSection },
  { id: 'code', title: 'Code', rank: 60, render: codeSection },
  { id: 'git', title: 'Git', rank: 70, render: gitSection },
  {
    id: 'environment',
    title: 'Environment',
    rank: 80,
    render: environmentSection
  },
  { id: 'artifacts', title: 'Artifacts', rank: 90, render: artifactsSection },
  { id: 'tags', title: 'Tags', rank: 100, render: tagsSection }
]) {
  registerRunPageSection(section);
}
