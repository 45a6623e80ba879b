/**
 * One typed function per server route (see docs/rest-api.md).
 */
import { ServerConnection } from '@jupyterlab/services';

import { queryString, requestAPI } from './request';
import {
  IDeployment,
  IDeploymentList,
  IDriftList,
  IExperiment,
  IExperimentList,
  IExportReply,
  IExportRequest,
  IMetricHistory,
  IMlopsApi,
  IModelDetail,
  IModelList,
  IPromoteReply,
  IPromoteRequest,
  IRegisteredModel,
  IRunDetail,
  IRunPage,
  IRunsPage,
  IRunsQuery,
  IStopReply
} from './tokens';

const part = encodeURIComponent;

function post(body: unknown): RequestInit {
  return { method: 'POST', body: JSON.stringify(body) };
}

/** The API of the server at `settings` (default: the page's own server). */
export function createApi(settings?: ServerConnection.ISettings): IMlopsApi {
  const call = <T>(endPoint: string, init: RequestInit = {}): Promise<T> =>
    requestAPI<T>(endPoint, init, settings ?? ServerConnection.makeSettings());
  return {
    /** Every experiment with its run count. */
    async listExperiments(): Promise<IExperiment[]> {
      return (await call<IExperimentList>('experiments')).experiments;
    },
    /** One page of runs matching a filter, in order, with their total. */
    searchRuns(query: IRunsQuery): Promise<IRunsPage> {
      return call<IRunsPage>(`runs${runsQueryString(query)}`);
    },
    getRun(runId: string): Promise<IRunDetail> {
      return call<IRunDetail>(`runs/${part(runId)}`);
    },
    /** Everything the run page shows, in one reply. */
    getRunPage(runId: string): Promise<IRunPage> {
      return call<IRunPage>(`runs/${part(runId)}/page`);
    },
    getMetricHistory(runId: string, key: string): Promise<IMetricHistory> {
      return call<IMetricHistory>(`runs/${part(runId)}/metrics/${part(key)}`);
    },
    async listModels(): Promise<IRegisteredModel[]> {
      return (await call<IModelList>('models')).models;
    },
    getModel(name: string): Promise<IModelDetail> {
      return call<IModelDetail>(`models/${part(name)}`);
    },
    /** Move an alias through the validation gate (an ApiError 409 carries the report). */
    promote(name: string, request: IPromoteRequest): Promise<IPromoteReply> {
      return call<IPromoteReply>(`models/${part(name)}/aliases`, post(request));
    },
    async listDeployments(): Promise<IDeployment[]> {
      return (await call<IDeploymentList>('deployments')).deployments;
    },
    async stopDeployment(name: string): Promise<IDeployment> {
      const reply = await call<IStopReply>(
        `deployments/${part(name)}/stop`,
        post({})
      );
      return reply.deployment;
    },
    getDrift(): Promise<IDriftList> {
      return call<IDriftList>('drift');
    },
    exportNotebook(request: IExportRequest): Promise<IExportReply> {
      return call<IExportReply>('export', post(request));
    }
  };
}

/** The query string of `GET runs` for `query`. */
export function runsQueryString(query: IRunsQuery): string {
  return queryString({
    experiment: query.experiment ?? null,
    filter: query.filter?.trim() || null,
    order_by: query.order_by ?? [],
    limit: query.limit ?? null,
    offset: query.offset ?? null,
    tree: query.tree ? '1' : null,
    parent: query.parent ?? null
  });
}

/** The URL of an artifact's bytes, for links. */
export function artifactUrl(runId: string, path: string): string {
  const settings = ServerConnection.makeSettings();
  const encoded = path.split('/').map(part).join('/');
  return `${settings.baseUrl.replace(/\/$/, '')}/jupyter-mlops/api/runs/${part(runId)}/artifacts/${encoded}`;
}
