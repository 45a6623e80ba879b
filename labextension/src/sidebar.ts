import { refreshIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { listExperiments } from './api';
import { mlopsIcon } from './icons';
import { IExperiment } from './tokens';

/** DOM id of the sidebar; also the `data-id` of its tab in the left side bar. */
export const SIDEBAR_ID = 'jupyter-mlops-sidebar';

/** The four sections, top to bottom, with what each shows until it has content. */
const SECTIONS = [
  { key: 'experiments', title: 'Experiments', empty: 'Loading…' },
  {
    key: 'models',
    title: 'Models',
    empty: 'Registered models will be listed here.'
  },
  {
    key: 'deployments',
    title: 'Deployments',
    empty: 'Running deployments will be listed here.'
  },
  { key: 'drift', title: 'Drift', empty: 'Drift reports will be listed here.' }
] as const;

type SectionKey = (typeof SECTIONS)[number]['key'];

/**
 * The "MLOps" panel of the left side bar.
 */
export class MlopsSidebar extends Widget {
  constructor() {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-mlops-sidebar');
    this.title.icon = mlopsIcon;
    this.title.caption = 'MLOps';
    this.node.appendChild(this._header());
    for (const section of SECTIONS) {
      this.node.appendChild(this._section(section.key, section.title, section.empty));
    }
  }

  /** Fetch the experiments again and redraw their list. */
  async refresh(): Promise<void> {
    const body = this._bodies.get('experiments')!;
    try {
      renderExperiments(body, await listExperiments());
    } catch (error) {
      renderMessage(body, (error as Error).message, 'jp-mlops-error');
    }
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _header(): HTMLElement {
    const header = element('div', 'jp-mlops-header');
    header.appendChild(element('h2', 'jp-mlops-title', 'MLOps'));
    const button = element('button', 'jp-mlops-refresh jp-Button jp-mod-minimal');
    button.title = 'Refresh';
    button.setAttribute('aria-label', 'Refresh');
    refreshIcon.element({ container: button, elementSize: 'normal' });
    button.addEventListener('click', () => void this.refresh());
    header.appendChild(button);
    return header;
  }

  private _section(key: SectionKey, title: string, empty: string): HTMLElement {
    const section = element('section', 'jp-mlops-section');
    section.dataset.section = key;
    section.appendChild(element('h3', 'jp-mlops-section-title', title));
    const body = element('div', 'jp-mlops-section-body');
    renderMessage(body, empty);
    section.appendChild(body);
    this._bodies.set(key, body);
    return section;
  }

  private _bodies = new Map<SectionKey, HTMLElement>();
}

function renderExperiments(body: HTMLElement, experiments: IExperiment[]): void {
  if (experiments.length === 0) {
    renderMessage(
      body,
      'No experiments yet. Track a cell with %%mlops_track to create one.'
    );
    return;
  }
  const list = element('ul', 'jp-mlops-list');
  for (const experiment of experiments) {
    const item = element('li', 'jp-mlops-item');
    item.dataset.experimentId = experiment.experiment_id;
    item.title = experiment.name;
    item.appendChild(element('span', 'jp-mlops-item-name', experiment.name));
    const runs = experiment.run_count === 1 ? '1 run' : `${experiment.run_count} runs`;
    item.appendChild(element('span', 'jp-mlops-item-count', runs));
    list.appendChild(item);
  }
  body.replaceChildren(list);
}

function renderMessage(body: HTMLElement, text: string, extraClass = ''): void {
  const message = element('p', `jp-mlops-message ${extraClass}`.trim(), text);
  body.replaceChildren(message);
}

/** A new element; `text` goes in as text, never as HTML. */
function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
