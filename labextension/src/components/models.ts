/**
 * The Models section: registered models; for the chosen one its versions, aliases, the last
 * gate result per version, the alias history, and a promote form (confirmed in a dialog).
 */
import { MlopsModel } from '../model';
import { IModelDetail, IModelVersion, IRegisteredModel } from '../tokens';
import { promoteWithDialog } from './dialogs';
import { evaluationSummary } from './evaluation';
import { element, formatAgo, formatNumber, formatTime, message } from './dom';

export class ModelsSection {
  constructor(private readonly _model: MlopsModel) {
    this.node = element('div', 'jp-mlops-models');
    this.node.append(this._notice, this._list, this._detail);
  }

  readonly node: HTMLElement;

  update(): void {
    const state = this._model.models;
    if (state.error !== null && state.data === null) {
      this._notice.replaceChildren(message(state.error, true));
      this._list.replaceChildren();
      this._detail.replaceChildren();
      return;
    }
    this._notice.replaceChildren();
    this._renderList(state.data);
    const detail = this._model.modelDetail;
    if (
      detail.data !== this._shownDetail ||
      detail.error !== this._shownError
    ) {
      this._shownDetail = detail.data;
      this._shownError = detail.error;
      this._renderDetail();
    }
  }

  private _renderList(models: IRegisteredModel[] | null): void {
    if (models === null) {
      this._list.replaceChildren(message('Loading…'));
      return;
    }
    if (models.length === 0) {
      this._list.replaceChildren(
        message(
          'No registered models yet. Register one with %mlops_register MODEL -n NAME.'
        )
      );
      return;
    }
    const list = element('ul', 'jp-mlops-list');
    list.setAttribute('aria-label', 'Registered models');
    for (const model of models) {
      const selected = this._model.model === model.name;
      const item = element('li', 'jp-mlops-model jp-mlops-clickable');
      item.classList.toggle('jp-mod-selected', selected);
      item.dataset.model = model.name;
      item.tabIndex = 0;
      item.title = model.description || model.name;
      const head = element('div', 'jp-mlops-model-head');
      head.append(
        element('span', 'jp-mlops-item-name', model.name),
        element(
          'span',
          'jp-mlops-item-count',
          `${model.versions.length} version${model.versions.length === 1 ? '' : 's'}`
        )
      );
      item.append(head, aliasChips(model.aliases));
      const choose = () =>
        void this._model.selectModel(selected ? null : model.name);
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

  private _renderDetail(): void {
    const name = this._model.model;
    const state = this._model.modelDetail;
    if (name === null || state.data === null) {
      this._form = null;
      this._detail.replaceChildren(
        ...(name === null
          ? []
          : [message(state.error ?? 'Loading…', state.error !== null)])
      );
      return;
    }
    if (this._form?.name !== name || !this._detail.contains(this._form.node)) {
      // A skeleton per model; polling then only refills the tables, never the form.
      this._form = new PromoteForm(this._model, name);
      const node = element('div', 'jp-mlops-model-detail');
      node.dataset.model = name;
      node.append(
        element('h4', 'jp-mlops-subtitle', `${name}: versions`),
        this._versions,
        this._form.node,
        element('h4', 'jp-mlops-subtitle', 'Alias history'),
        this._history
      );
      this._detail.replaceChildren(node);
    }
    this._versions.replaceChildren(versionsTable(state.data.versions));
    this._form.update(state.data);
    this._history.replaceChildren(aliasHistory(state.data));
  }

  private readonly _notice = element('div', 'jp-mlops-notice');
  private readonly _list = element('div', 'jp-mlops-model-list');
  private readonly _detail = element('div', 'jp-mlops-model-detail-box');
  private readonly _versions = element('div', 'jp-mlops-versions-box');
  private readonly _history = element('div', 'jp-mlops-history-box');
  private _shownDetail: IModelDetail | null = null;
  private _shownError: string | null = null;
  private _form: PromoteForm | null = null;
}

function aliasChips(aliases: Record<string, number>): HTMLElement {
  const chips = element('div', 'jp-mlops-chips');
  for (const [alias, version] of Object.entries(aliases).sort()) {
    chips.appendChild(
      element('span', 'jp-mlops-chip', `${alias} → v${version}`)
    );
  }
  return chips;
}

function versionsTable(versions: IModelVersion[]): HTMLElement {
  const table = element('table', 'jp-mlops-grid jp-mlops-versions');
  const head = element('tr');
  for (const title of ['version', 'aliases', 'evaluation', 'gate']) {
    head.appendChild(element('th', '', title));
  }
  table.appendChild(element('thead')).appendChild(head);
  const body = table.appendChild(element('tbody'));
  for (const v of [...versions].reverse()) {
    const row = element('tr');
    row.dataset.version = String(v.version);
    const name = element('td', '', `v${v.version}`);
    name.title = `${v.uri} · run ${v.run_id} · ${v.status} · registered ${formatAgo(
      v.creation_time
    )} (${formatTime(v.creation_time)})`;
    if (v.status !== 'READY') {
      name.appendChild(
        element('span', 'jp-mlops-hint', ` ${v.status.toLowerCase()}`)
      );
    }
    const aliases = element('td');
    for (const a of v.aliases) {
      aliases.appendChild(element('span', 'jp-mlops-chip', a));
    }
    const last = v.validations[v.validations.length - 1];
    const gate = element(
      'td',
      last ? (last.passed ? 'jp-mlops-pass' : 'jp-mlops-fail') : ''
    );
    gate.textContent = last
      ? `${last.passed ? '✓' : last.forced ? '⚠' : '✗'} ${last.alias}`
      : '—';
    if (last) {
      gate.title =
        last.checks
          .map(c => `${c.passed ? '✓' : '✗'} ${c.check}: ${c.detail}`)
          .join('\n') || 'no checks';
    }
    const shown = evaluationSummary(v);
    const evaluated = element('td', shown.className, shown.text);
    evaluated.title = shown.title;
    row.append(name, aliases, evaluated, gate);
    body.appendChild(row);
  }
  return table;
}

function aliasHistory(detail: IModelDetail): HTMLElement {
  if (detail.alias_history.length === 0) {
    return message('No alias has been set yet.');
  }
  const list = element('ol', 'jp-mlops-history');
  for (const move of [...detail.alias_history].reverse()) {
    const item = element('li');
    const from = move.from_version === null ? '∅' : `v${move.from_version}`;
    const to = move.to_version === null ? '∅' : `v${move.to_version}`;
    item.append(
      element('span', 'jp-mlops-history-time', formatTime(move.time)),
      element('span', 'jp-mlops-chip', move.alias),
      element('span', '', ` ${from} → ${to}`)
    );
    const who = [move.user, move.reason].filter(Boolean).join(' · ');
    if (who) {
      item.appendChild(element('span', 'jp-mlops-hint', ` ${who}`));
    }
    if (move.forced) {
      item.appendChild(element('span', 'jp-mlops-fail', ' forced'));
    }
    list.appendChild(item);
  }
  return list;
}

/** Version, alias and checks; submitting opens the confirmation dialog. */
class PromoteForm {
  constructor(
    private readonly _model: MlopsModel,
    readonly name: string
  ) {
    this.node = element('form', 'jp-mlops-promote');
    this.node.appendChild(element('h4', 'jp-mlops-subtitle', 'Promote'));
    this._version.setAttribute('aria-label', 'Version');
    this._alias.placeholder = 'alias, e.g. production';
    this._alias.setAttribute('aria-label', 'Alias');
    this._known.id = `jp-mlops-aliases-${++PromoteForm._count}`;
    this._alias.setAttribute('list', this._known.id);
    this._checks.placeholder = 'checks, e.g. accuracy >= current';
    this._checks.setAttribute('aria-label', 'Checks');
    const submit = element(
      'button',
      'jp-mlops-button jp-mlops-promote-button',
      'Promote…'
    );
    submit.type = 'submit';
    const row = element('div', 'jp-mlops-form-row');
    row.append(this._version, this._alias, submit);
    this._metrics.setAttribute('aria-label', 'Metrics the gate can check');
    this.node.append(row, this._checks, this._metrics, this._note, this._known);
    this._version.addEventListener('change', () => this._showMetrics());
    this.node.addEventListener('submit', event => {
      event.preventDefault();
      void this._submit();
    });
  }

  readonly node: HTMLFormElement;

  /** Refresh the version choices and known aliases, keeping the user's choice. */
  update(detail: IModelDetail): void {
    this._detail = detail;
    const versions = detail.versions.map(v => String(v.version)).reverse();
    if (versions.join() !== this._versions.join()) {
      const chosen = this._version.value;
      this._version.replaceChildren(
        ...versions.map(v => {
          const option = element('option', '', `v${v}`);
          option.value = v;
          return option;
        })
      );
      this._versions = versions;
      if (versions.includes(chosen)) {
        this._version.value = chosen;
      }
    }
    this._known.replaceChildren(
      ...Object.keys(detail.aliases).map(a => {
        const option = element('option');
        option.value = a;
        return option;
      })
    );
    this._showMetrics();
  }

  /**
   * The chosen version's recorded metrics, beside the checks: the gate here can only compare
   * those (there is no data in the side bar). A click adds `METRIC >= current`.
   */
  private _showMetrics(): void {
    const version = this._detail?.versions.find(
      v => String(v.version) === this._version.value
    );
    const metrics = (version?.gate_metrics ??
      version?.lineage?.metrics ??
      {}) as Record<string, number | null>;
    const keys = Object.keys(metrics)
      .filter(k => metrics[k] !== null)
      .sort();
    const chips = keys.map(key => {
      const chip = element(
        'button',
        'jp-mlops-promote-metric',
        `${key} ${formatNumber(metrics[key])}`
      );
      chip.type = 'button';
      chip.dataset.metric = key;
      chip.title = `Add the check "${key} >= current"`;
      chip.addEventListener('click', () => {
        const checks = this._checks.value.trim();
        const check = `${key} >= current`;
        this._checks.value = checks ? `${checks}, ${check}` : check;
      });
      return chip;
    });
    this._metrics.replaceChildren(
      element(
        'span',
        'jp-mlops-promote-note',
        keys.length
          ? `v${version?.version} recorded:`
          : `v${version?.version ?? '?'} has no recorded metrics: only checks on data apply.`
      ),
      ...chips
    );
    this._note.textContent =
      'Checks here compare these recorded metrics (a value, or "current" for the alias ' +
      "holder's). Checks on held-out data need the data: in a notebook, %mlops_promote " +
      `${this.name}/${version?.version ?? 'N'} ALIAS --check 'accuracy>=0.9' --data X_test y_test.`;
  }

  private async _submit(): Promise<void> {
    const alias = this._alias.value.trim();
    if (!alias) {
      this._alias.focus();
      return;
    }
    const checks = this._checks.value
      .split(/[,\n]/)
      .map(c => c.trim())
      .filter(Boolean);
    const request = { version: Number(this._version.value), alias, checks };
    const current = this._detail?.aliases[alias] ?? null;
    await promoteWithDialog(this._model, this.name, request, current);
  }

  private static _count = 0;
  private _detail: IModelDetail | null = null;
  private _versions: string[] = [];
  private readonly _version = element(
    'select',
    'jp-mlops-promote-version jp-mlops-input'
  );
  private readonly _alias = element(
    'input',
    'jp-mlops-promote-alias jp-mlops-input'
  );
  private readonly _checks = element(
    'input',
    'jp-mlops-promote-checks jp-mlops-input'
  );
  private readonly _known = element('datalist');
  private readonly _metrics = element('div', 'jp-mlops-promote-metrics');
  private readonly _note = element('p', 'jp-mlops-promote-note');
}
