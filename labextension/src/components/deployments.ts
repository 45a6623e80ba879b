/**
 * The Deployments section: each model server's live status (health, version, requests, p95
 * latency, uptime) and a stop button. The model polls, so a killed server shows as down.
 */
import { MlopsModel } from '../model';
import { IDeployment } from '../tokens';
import { stopWithDialog } from './dialogs';
import { button, element, formatDuration, formatNumber, message } from './dom';

export class DeploymentsSection {
  constructor(private readonly _model: MlopsModel) {
    this.node = element('div', 'jp-mlops-deployments');
  }

  readonly node: HTMLElement;

  update(): void {
    const state = this._model.deployments;
    if (state.data === null) {
      this.node.replaceChildren(
        message(state.error ?? 'Loading…', state.error !== null)
      );
      return;
    }
    if (state.data.length === 0) {
      this.node.replaceChildren(
        message(
          'No deployments. Start one with %mlops_deploy models:/NAME@ALIAS.'
        )
      );
      return;
    }
    const list = element('ul', 'jp-mlops-list jp-mlops-deployment-list');
    for (const deployment of state.data) {
      list.appendChild(this._item(deployment));
    }
    const parts: HTMLElement[] = [list];
    if (state.error !== null) {
      parts.push(message(state.error, true));
    }
    this.node.replaceChildren(...parts);
  }

  private _item(d: IDeployment): HTMLElement {
    const item = element('li', 'jp-mlops-deployment');
    item.dataset.deployment = d.name;
    const head = element('div', 'jp-mlops-deployment-head');
    const status = element(
      'span',
      `jp-mlops-health jp-mlops-health-${d.status}`,
      d.status
    );
    status.title =
      d.status === 'running'
        ? `${d.url}/health answers`
        : `status: ${d.status}`;
    head.append(status, element('span', 'jp-mlops-item-name', d.name));
    if (
      d.status === 'running' ||
      d.status === 'starting' ||
      d.status === 'down'
    ) {
      head.appendChild(
        button(
          'Stop',
          () => void stopWithDialog(this._model, d.name),
          'jp-mlops-button jp-mlops-stop',
          `Stop ${d.name}`
        )
      );
    }
    const facts = element('dl', 'jp-mlops-facts');
    const fact = (label: string, value: string, title?: string) => {
      const dt = element('dt', '', label);
      const dd = element(
        'dd',
        `jp-mlops-fact-${label.replace(/\W+/g, '-')}`,
        value
      );
      if (title) {
        dd.title = title;
      }
      facts.append(dt, dd);
    };
    fact('version', d.version === null ? '—' : `v${d.version}`, d.model_uri);
    fact(
      'requests',
      formatNumber(d.requests),
      `${formatNumber(d.errors)} errors`
    );
    fact(
      'p95',
      d.p95_ms === null ? '—' : `${formatNumber(d.p95_ms)} ms`,
      d.p50_ms === null ? undefined : `p50 ${formatNumber(d.p50_ms)} ms`
    );
    fact('uptime', formatDuration(d.uptime_s));
    const url = element(
      'div',
      'jp-mlops-deployment-url',
      `${d.url} · ${d.model_uri}`
    );
    item.append(head, facts, url);
    return item;
  }
}
