import { caretDownIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { DeploymentsSection } from './components/deployments';
import { element } from './components/dom';
import { DriftSection } from './components/drift';
import { ExperimentsSection } from './components/experiments';
import { ModelsSection } from './components/models';
import { mlopsIcon } from './icons';
import { MlopsModel, SectionKey } from './model';
import { SweepsSection } from './sweeps/section';

/** DOM id of the sidebar; also the `data-id` of its tab in the left side bar. */
export const SIDEBAR_ID = 'jupyter-mlops-sidebar';

/** The four sections, top to bottom. */
export const SECTION_TITLES: Record<SectionKey, string> = {
  experiments: 'Experiments',
  models: 'Models',
  deployments: 'Deployments',
  drift: 'Drift'
};

interface ISectionView {
  node: HTMLElement;
  update(): void;
}

/**
 * A section another feature adds to the side bar (e.g. sweeps): its own node and data. It is
 * drawn after the built-in four (by `rank`), collapsible like them, and `refresh` is called
 * with every poll and every Refresh while the side bar is visible.
 */
export interface ISidebarSection {
  /** Unique key; the section's `data-section`. */
  key: string;
  title: string;
  /** Order among added sections (lowest first); the built-in four come before all of them. */
  rank: number;
  node: HTMLElement;
  /** Fetch and redraw (errors are the section's to show). */
  refresh(): Promise<void>;
}

/**
 * The "MLOps" panel of the left side bar: four collapsible sections over one model, which
 * polls while the panel is visible.
 */
export class MlopsSidebar extends Widget {
  constructor(readonly model: MlopsModel) {
    super();
    this.id = SIDEBAR_ID;
    this.addClass('jp-mlops-sidebar');
    this.title.icon = mlopsIcon;
    this.title.caption = 'MLOps';
    this._experiments = new ExperimentsSection(model);
    this._views = {
      experiments: this._experiments,
      models: new ModelsSection(model),
      deployments: new DeploymentsSection(model),
      drift: new DriftSection(model)
    };
    this.node.appendChild(this._header());
    for (const key of Object.keys(SECTION_TITLES) as SectionKey[]) {
      this.node.appendChild(this._section(key));
      this._update(key);
    }
    this.node.appendChild(new SweepsSection().node); // labextension/src/sweeps
    model.changed.connect((_, section) => this._update(section), this);
  }

  /** Add a section below the built-in ones (see {@link ISidebarSection}). */
  addSection(section: ISidebarSection): void {
    const node = element('section', 'jp-mlops-section jp-mod-expanded');
    node.dataset.section = section.key;
    const heading = element('h3', 'jp-mlops-section-title');
    const toggle = element('button', 'jp-mlops-section-toggle');
    toggle.type = 'button';
    toggle.setAttribute('aria-expanded', 'true');
    toggle.append(
      caretDownIcon.element({ className: 'jp-mlops-caret', tag: 'span' }),
      element('span', 'jp-mlops-section-name', section.title)
    );
    const body = element('div', 'jp-mlops-section-body');
    body.appendChild(section.node);
    toggle.addEventListener('click', () => {
      const open = body.hidden;
      body.hidden = !open;
      node.classList.toggle('jp-mod-expanded', open);
      toggle.setAttribute('aria-expanded', String(open));
      if (open) {
        void section.refresh();
      }
    });
    heading.appendChild(toggle);
    node.append(heading, body);
    node.dataset.rank = String(section.rank);
    const after = [
      ...this.node.querySelectorAll<HTMLElement>('[data-rank]')
    ].find(other => Number(other.dataset.rank) > section.rank);
    this.node.insertBefore(node, after ?? null);
    this.model.extraRefreshers.add(() =>
      body.hidden ? Promise.resolve() : section.refresh()
    );
    void section.refresh();
  }

  /** Fetch every expanded section again. */
  refresh(): Promise<void> {
    return this.model.refresh();
  }

  /** Expand a section, scroll to it and focus it (palette commands). */
  openSection(key: SectionKey): void {
    this.model.setExpanded(key, true);
    const section = this._sections.get(key)!;
    section.scrollIntoView({ block: 'start' });
    if (key === 'experiments') {
      this._experiments.focusFilter();
    } else {
      section.querySelector<HTMLElement>('.jp-mlops-section-toggle')?.focus();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    this.model.visible = true;
  }

  protected onAfterHide(msg: Message): void {
    this.model.visible = false;
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.visible = false;
  }

  private _update(section: SectionKey): void {
    const node = this._sections.get(section);
    if (!node) {
      return;
    }
    const expanded = this.model.expanded.has(section);
    node.classList.toggle('jp-mod-expanded', expanded);
    node
      .querySelector('.jp-mlops-section-toggle')
      ?.setAttribute('aria-expanded', String(expanded));
    (node.querySelector('.jp-mlops-section-body') as HTMLElement).hidden =
      !expanded;
    if (expanded) {
      this._views[section].update();
    }
  }

  private _header(): HTMLElement {
    const header = element('div', 'jp-mlops-header');
    header.appendChild(element('h2', 'jp-mlops-title', 'MLOps'));
    const button = element(
      'button',
      'jp-mlops-refresh jp-Button jp-mod-minimal'
    );
    button.type = 'button';
    button.title = 'Refresh';
    button.setAttribute('aria-label', 'Refresh');
    // Not `container: button`: LabIcon would replace the button's classes with its own.
    button.appendChild(
      refreshIcon.element({ tag: 'span', elementSize: 'normal' })
    );
    button.addEventListener('click', () => void this.refresh());
    header.appendChild(button);
    return header;
  }

  private _section(key: SectionKey): HTMLElement {
    const section = element('section', 'jp-mlops-section');
    section.dataset.section = key;
    const heading = element('h3', 'jp-mlops-section-title');
    const toggle = element('button', 'jp-mlops-section-toggle');
    toggle.type = 'button';
    toggle.setAttribute('aria-controls', `jp-mlops-section-${key}`);
    toggle.appendChild(
      caretDownIcon.element({ className: 'jp-mlops-caret', tag: 'span' })
    );
    toggle.appendChild(
      element('span', 'jp-mlops-section-name', SECTION_TITLES[key])
    );
    toggle.addEventListener('click', () =>
      this.model.setExpanded(key, !this.model.expanded.has(key))
    );
    heading.appendChild(toggle);
    const body = element('div', 'jp-mlops-section-body');
    body.id = `jp-mlops-section-${key}`;
    body.appendChild(this._views[key].node);
    section.append(heading, body);
    this._sections.set(key, section);
    return section;
  }

  private readonly _experiments: ExperimentsSection;
  private readonly _views: Record<SectionKey, ISectionView>;
  private readonly _sections = new Map<SectionKey, HTMLElement>();
}
