import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { createApi } from './api';
import { exportWithDialog } from './components/dialogs';
import { pipelineIcon } from './icons';
import {
  DEFAULT_INTERVAL_MS,
  MlopsModel,
  SECTION_KEYS,
  SectionKey
} from './model';
import { runIdOfLink } from './links';
import { RunPage, registerRunPageSection } from './runPage';
import { IMlopsExtensionPoints } from './tokens';
import { MlopsSidebar, SECTION_TITLES } from './sidebar';

const PLUGIN_ID = 'jupyter-mlops:plugin';

namespace CommandIDs {
  export const open = 'jupyter-mlops:open-sidebar';
  export const refresh = 'jupyter-mlops:refresh';
  export const exportPipeline = 'jupyter-mlops:export-pipeline';
  export const openRun = 'jupyter-mlops:open-run';
  export const section = (key: SectionKey) => `jupyter-mlops:open-${key}`;
}

/**
 * The MLOps side bar (experiments, models, deployments, drift), its palette commands, and the
 * notebook toolbar's "Export to pipeline" button (declared in schema/plugin.json).
 */
const plugin: JupyterFrontEndPlugin<IMlopsExtensionPoints> = {
  id: PLUGIN_ID,
  description:
    'The MLOps side bar: experiments, models, deployments and drift.',
  autoStart: true,
  provides: IMlopsExtensionPoints,
  requires: [ILabShell],
  optional: [ICommandPalette, INotebookTracker, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    settings: ISettingRegistry | null
  ) => {
    const model = new MlopsModel({
      api: createApi(),
      interval: DEFAULT_INTERVAL_MS
    });
    const sidebar = new MlopsSidebar(model);
    labShell.add(sidebar, 'left', { rank: 600 });

    const { commands } = app;
    const pages = new Map<string, RunPage>();
    const openRun = (runId: string): RunPage => {
      let page = pages.get(runId);
      if (page && !page.isDisposed) {
        void page.refresh();
      } else {
        page = new RunPage(model.api, runId, {
          openRun: id =>
            void commands.execute(CommandIDs.openRun, { runId: id })
        });
        pages.set(runId, page);
        page.disposed.connect(() => pages.delete(runId));
        labShell.add(page, 'main');
      }
      labShell.activateById(page.id);
      return page;
    };
    model.runOpener = runId =>
      void commands.execute(CommandIDs.openRun, { runId });
    commands.addCommand(CommandIDs.openRun, {
      label: args =>
        args.runId
          ? `Open Run ${String(args.runId).slice(0, 8)}`
          : 'Open Run Page',
      caption:
        'Open the run page: params, metrics, code, git, artifacts, children',
      execute: args => {
        const runId = String(args.runId ?? '').trim();
        return runId ? openRun(runId) : null;
      }
    });
    // Run links in notebook outputs (tracked cells' summaries, %mlops_runs, %mlops_run...)
    // are `#jupyter-mlops/run/<id>`: they open the run page instead of changing the hash.
    document.addEventListener(
      'click',
      event => {
        const target = event.target as HTMLElement | null;
        const link = target?.closest?.('a') as HTMLAnchorElement | null;
        const runId = runIdOfLink(link?.getAttribute('href') ?? null);
        if (runId && !event.defaultPrevented) {
          event.preventDefault();
          event.stopPropagation();
          void commands.execute(CommandIDs.openRun, { runId });
        }
      },
      true
    );
    commands.addCommand(CommandIDs.open, {
      label: 'Show MLOps Side Bar',
      caption: 'Open the MLOps panel in the left side bar',
      execute: () => labShell.activateById(sidebar.id)
    });
    commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh MLOps Side Bar',
      execute: () => sidebar.refresh()
    });
    for (const key of SECTION_KEYS) {
      commands.addCommand(CommandIDs.section(key), {
        label: `Show MLOps ${SECTION_TITLES[key]}`,
        caption: `Open the ${SECTION_TITLES[key]} section of the MLOps side bar`,
        execute: () => {
          labShell.activateById(sidebar.id);
          sidebar.openSection(key);
        }
      });
    }
    commands.addCommand(CommandIDs.exportPipeline, {
      label: args =>
        args.toolbar ? 'Export to pipeline' : 'Export Notebook to Pipeline…',
      caption: 'Export this notebook as a Python, Airflow or Kubeflow pipeline',
      icon: args => (args.toolbar ? pipelineIcon : undefined),
      isEnabled: () => notebooks?.currentWidget != null,
      execute: async () => {
        const panel = notebooks?.currentWidget;
        if (!panel) {
          return null;
        }
        if (panel.context.model.dirty) {
          await panel.context.save(); // the server exports what is on disk
        }
        return exportWithDialog(model, panel.context.path, path =>
          commands.execute('docmanager:open', { path })
        );
      }
    });

    const paletteCommands = [
      CommandIDs.open,
      CommandIDs.refresh,
      ...SECTION_KEYS.map(CommandIDs.section),
      CommandIDs.exportPipeline
    ];
    for (const command of paletteCommands) {
      palette?.addItem({ command, category: 'MLOps' });
    }

    const extensionPoints: IMlopsExtensionPoints = {
      addSidebarSection: section => sidebar.addSection(section),
      addRunPageSection: registerRunPageSection,
      openRun: runId => openRun(runId)
    };
    if (settings) {
      const apply = (loaded: ISettingRegistry.ISettings) => {
        const seconds = loaded.get('refreshInterval').composite as number;
        model.interval = Math.max(1, seconds) * 1000;
      };
      settings
        .load(PLUGIN_ID)
        .then(loaded => {
          apply(loaded);
          loaded.changed.connect(apply);
        })
        .catch(reason =>
          console.error('jupyter-mlops: cannot load settings', reason)
        );
    }
    return extensionPoints;
  }
};

export default plugin;
