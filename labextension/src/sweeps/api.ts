/**
 * The sweep routes, one typed function each.
 */
import { ServerConnection } from '@jupyterlab/services';

import { queryString, requestAPI } from '../request';
import { ISweepDetail, ISweepList, ISweepSummary } from './types';

/** The sweep routes of the server at `settings` (default: the page's own server). */
export interface ISweepsApi {
  listSweeps(): Promise<ISweepSummary[]>;
  getSweep(name: string, experiment?: string): Promise<ISweepDetail>;
}

export function createSweepsApi(
  settings?: ServerConnection.ISettings
): ISweepsApi {
  const server = settings ?? ServerConnection.makeSettings();
  return {
    async listSweeps(): Promise<ISweepSummary[]> {
      return (await requestAPI<ISweepList>('sweeps', {}, server)).sweeps;
    },
    getSweep(name: string, experiment?: string): Promise<ISweepDetail> {
      const query = queryString({ experiment });
      return requestAPI<ISweepDetail>(
        `sweeps/${encodeURIComponent(name)}${query}`,
        {},
        server
      );
    }
  };
}
