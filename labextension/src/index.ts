import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { MlopsSidebar } from './sidebar';

namespace CommandIDs {
  export const open = 'jupyter-mlops:open-sidebar';
  export const refresh = 'jupyter-mlops:refresh';
}

/**
 * The MLOps side bar: experiments, models, deployments and drift.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlops:plugin',
  description: 'The MLOps side bar: experiments, models, deployments and drift.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new MlopsSidebar();
    labShell.add(sidebar, 'left', { rank: 600 });

    app.commands.addCommand(CommandIDs.open, {
      label: 'Show MLOps Side Bar',
      caption: 'Open the MLOps panel in the left side bar',
      execute: () => labShell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Refresh MLOps Side Bar',
      execute: () => sidebar.refresh()
    });
    for (const command of [CommandIDs.open, CommandIDs.refresh]) {
      palette?.addItem({ command, category: 'MLOps' });
    }
  }
};

export default plugin;
