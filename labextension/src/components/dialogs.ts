/**
 * Dialogs (JupyterLab's showDialog): promote through the gate, stop a deployment, export a
 * notebook. Bodies are widgets built from text nodes only.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { MlopsModel } from '../model';
import { ApiError, errorMessage } from '../request';
import { IExportReply, IPromoteRequest, IValidationReport } from '../tokens';
import { element, formatNumber } from './dom';

/** The body of the promotion's confirmation: what will happen, and force/reason. */
class PromoteConfirm extends Widget {
  constructor(name: string, request: IPromoteRequest, current: number | null) {
    super();
    this.addClass('jp-mlops-dialog');
    const move =
      current === null
        ? `“${request.alias}” is not set yet; it will point to version ${request.version}.`
        : current === request.version
          ? `“${request.alias}” already points to version ${request.version}.`
          : `“${request.alias}” moves from version ${current} to version ${request.version}.`;
    this.node.appendChild(element('p', '', move));
    const checks = request.checks ?? [];
    if (checks.length) {
      this.node.appendChild(
        element('p', '', 'The validation gate checks first:')
      );
      const list = element('ul', 'jp-mlops-dialog-checks');
      for (const check of checks) {
        list.appendChild(element('li', '', check));
      }
      this.node.appendChild(list);
    } else {
      this.node.appendChild(
        element(
          'p',
          'jp-mlops-hint',
          'No checks given: the gate records the move and passes.'
        )
      );
    }
    const force = element('label', 'jp-mlops-toggle');
    this._force.type = 'checkbox';
    this._force.className = 'jp-mlops-promote-force';
    force.append(this._force, ' Force even if a check fails');
    this._reason.className = 'jp-mlops-promote-reason jp-mod-styled';
    this._reason.placeholder =
      'Reason (kept in the alias history; needed to force)';
    this._reason.setAttribute('aria-label', 'Reason');
    this.node.append(force, this._reason);
    void name;
  }

  getValue(): { force: boolean; reason: string } {
    return { force: this._force.checked, reason: this._reason.value.trim() };
  }

  private _force = element('input');
  private _reason = element('input');
}

/** A validation report: the verdict, each check, and the metrics compared. */
export function reportNode(
  report: IValidationReport,
  note?: string
): HTMLElement {
  const node = element('div', 'jp-mlops-report');
  const verdict = report.passed
    ? `✓ passed: ${report.name} v${report.version} is now “${report.alias}”.`
    : report.forced
      ? `⚠ forced: ${report.name} v${report.version} is now “${report.alias}” although a check failed.`
      : `✗ refused: “${report.alias}” did not move.`;
  node.appendChild(
    element('p', report.passed ? 'jp-mlops-pass' : 'jp-mlops-fail', verdict)
  );
  if (note) {
    node.appendChild(element('p', 'jp-mlops-hint', note));
  }
  if (report.checks.length) {
    const table = element('table', 'jp-mlops-checks');
    for (const check of report.checks) {
      const row = element(
        'tr',
        check.passed ? 'jp-mlops-pass' : 'jp-mlops-fail'
      );
      row.append(
        element('td', '', check.passed ? '✓' : '✗'),
        element('td', '', check.check),
        element('td', '', check.detail)
      );
      table.appendChild(row);
    }
    node.appendChild(table);
  }
  const metrics = Object.keys(report.candidate_metrics).sort();
  if (metrics.length) {
    const current = report.current_version;
    const table = element('table', 'jp-mlops-metrics');
    const head = element('tr');
    head.append(
      element('th', '', 'metric'),
      element('th', '', `v${report.version}`),
      element('th', '', current === null ? 'current' : `v${current} (current)`)
    );
    table.appendChild(head);
    for (const key of metrics) {
      const row = element('tr');
      row.append(
        element('td', '', key),
        element(
          'td',
          'jp-mlops-num',
          formatNumber(report.candidate_metrics[key])
        ),
        element('td', 'jp-mlops-num', formatNumber(report.current_metrics[key]))
      );
      table.appendChild(row);
    }
    node.appendChild(table);
  }
  return node;
}

/** Confirm, run the gate, and show its result. Resolves with whether the alias moved. */
export async function promoteWithDialog(
  model: MlopsModel,
  name: string,
  request: IPromoteRequest,
  current: number | null
): Promise<boolean> {
  const confirm = await showDialog({
    title: `Promote ${name} v${request.version} to “${request.alias}”?`,
    body: new PromoteConfirm(name, request, current),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Promote' })]
  });
  if (!confirm.button.accept || confirm.value === null) {
    return false;
  }
  const { force, reason } = confirm.value;
  let report: IValidationReport;
  let note: string | undefined;
  try {
    report = (
      await model.promote(name, { ...request, force, reason: reason || null })
    ).report;
  } catch (error) {
    if (error instanceof ApiError && error.body?.report) {
      report = error.body.report as IValidationReport;
      note = error.message;
    } else {
      await showErrorMessage('Promotion failed', errorMessage(error));
      return false;
    }
  }
  const body = new Widget({ node: reportNode(report, note) });
  body.addClass('jp-mlops-dialog');
  await showDialog({
    title:
      report.passed || report.forced
        ? 'Promoted'
        : 'Promotion refused by the gate',
    body,
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
  return report.passed || report.forced;
}

/** Confirm and stop a deployment. */
export async function stopWithDialog(
  model: MlopsModel,
  name: string
): Promise<void> {
  const confirm = await showDialog({
    title: `Stop deployment “${name}”?`,
    body: 'Its model server process is terminated; the record stays in the store.',
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
  });
  if (!confirm.button.accept) {
    return;
  }
  try {
    await model.stopDeployment(name);
  } catch (error) {
    await showErrorMessage(
      'Could not stop the deployment',
      errorMessage(error)
    );
  }
}

/** The export dialog's body: target and single step. */
class ExportChooser extends Widget {
  constructor(path: string) {
    super();
    this.addClass('jp-mlops-dialog');
    this.node.appendChild(element('p', '', `Export ${path} as a pipeline.`));
    const targetLabel = element('label', 'jp-mlops-field', 'Target ');
    this._target.className = 'jp-mlops-export-target jp-mod-styled';
    for (const [value, label] of [
      ['python', 'Python (runs here: jupyter mlops run-pipeline)'],
      ['airflow', 'Airflow (TaskFlow DAG)'],
      ['kfp', 'Kubeflow Pipelines v2']
    ]) {
      const option = element('option', '', label);
      option.value = value;
      this._target.appendChild(option);
    }
    targetLabel.appendChild(this._target);
    const single = element('label', 'jp-mlops-toggle');
    this._single.type = 'checkbox';
    this._single.className = 'jp-mlops-export-single';
    single.append(this._single, ' One step for the whole notebook');
    this.node.append(
      targetLabel,
      single,
      element(
        'p',
        'jp-mlops-hint',
        'Steps come from block:/step: cell tags or headings. The notebook is only read.'
      )
    );
  }

  getValue(): { target: string; single_step: boolean } {
    return { target: this._target.value, single_step: this._single.checked };
  }

  private _target = element('select');
  private _single = element('input');
}

/** Ask for a target, export, and list the written files (each opens on click). */
export async function exportWithDialog(
  model: MlopsModel,
  path: string,
  open: (path: string) => void
): Promise<IExportReply | null> {
  const choice = await showDialog({
    title: 'Export to pipeline',
    body: new ExportChooser(path),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Export' })]
  });
  if (!choice.button.accept || choice.value === null) {
    return null;
  }
  let reply: IExportReply;
  try {
    reply = await model.api.exportNotebook({ path, ...choice.value });
  } catch (error) {
    await showErrorMessage('Export failed', errorMessage(error));
    return null;
  }
  const node = element('div', 'jp-mlops-export-result');
  node.appendChild(element('p', '', reply.message));
  const list = element('ul', 'jp-mlops-export-files');
  for (const file of reply.files) {
    const item = element('li');
    const link = element('a', 'jp-mlops-link', file);
    link.href = '#';
    link.title = `Open ${file}`;
    link.addEventListener('click', event => {
      event.preventDefault();
      open(file);
    });
    item.appendChild(link);
    list.appendChild(item);
  }
  node.appendChild(list);
  const body = new Widget({ node });
  body.addClass('jp-mlops-dialog');
  void showDialog({
    title: `Exported ${reply.files.length} file${reply.files.length === 1 ? '' : 's'}`,
    body,
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
  return reply;
}
