/**
 * Test doubles at the edge of the world: a fetch that answers like the server extension, and
 * an API whose answers the test sets.
 */
import { ServerConnection } from '@jupyterlab/services';

import { IMlopsApi, IRunRow, IRunsPage, IRunsQuery } from '../src/tokens';

/** A recorded request. */
export interface ICall {
  url: string;
  method: string;
  body: string | null;
}

/** Server settings whose fetch answers with `reply(url, init)` and records each call. */
export function fakeServer(
  reply: (url: URL, init: RequestInit) => Response | Promise<Response>
): { settings: ServerConnection.ISettings; calls: ICall[] } {
  const calls: ICall[] = [];
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const request =
      input instanceof Request ? input : new Request(String(input), init);
    const body = request.method === 'GET' ? null : await request.clone().text();
    // ServerConnection appends a cache-buster (`?1700000000000`): leave it out of the record.
    const url = request.url.replace(/[?&]\d{10,}$/, '');
    calls.push({ url, method: request.method, body });
    return reply(new URL(request.url), { method: request.method, body });
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:8888/lab-base/',
    wsUrl: 'ws://127.0.0.1:8888/lab-base/',
    token: 'secret',
    fetch: fetch as typeof globalThis.fetch,
    Request,
    Headers,
    WebSocket: class {} as any
  });
  return { settings, calls };
}

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

/** `count` runs named run-00000, run-00001... */
export function makeRuns(count: number): IRunRow[] {
  return Array.from({ length: count }, (_, i) => ({
    run_id: `id${i}`,
    run_name: `run-${String(i).padStart(5, '0')}`,
    experiment: 'big',
    experiment_id: '0',
    status: 'FINISHED',
    start_time: 1_700_000_000_000 + i,
    end_time: 1_700_000_001_000 + i,
    duration_s: 1,
    parent_run_id: null,
    params: { i: String(i) },
    metrics: { loss: 1 / (i + 1) }
  }));
}

/** An API over `runs` that pages like the server and records every runs query. */
export class FakeApi implements IMlopsApi {
  constructor(public runs: IRunRow[] = makeRuns(0)) {}

  queries: IRunsQuery[] = [];
  failWith: Error | null = null;
  calls: string[] = [];

  async listExperiments() {
    this.calls.push('experiments');
    this._fail();
    return [
      {
        experiment_id: '0',
        name: 'big',
        creation_time: 0,
        run_count: this.runs.length
      }
    ];
  }

  async searchRuns(query: IRunsQuery): Promise<IRunsPage> {
    this.queries.push(query);
    this.calls.push('runs');
    this._fail();
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 100;
    // Like the server's tree mode: top-level runs, or one run's children.
    const listed =
      query.parent !== undefined && query.parent !== null
        ? this.runs.filter(r => r.parent_run_id === query.parent)
        : query.tree
          ? this.runs.filter(r => r.parent_run_id === null)
          : this.runs;
    return {
      runs: listed.slice(offset, offset + limit),
      total: listed.length,
      offset,
      limit,
      metric_keys: ['loss'],
      param_keys: ['i']
    };
  }

  async getRunPage(runId: string): Promise<any> {
    this.calls.push(`page ${runId}`);
    return { run: (await this.getRun(runId)).run, histories: {}, children: [] };
  }

  async getRun(runId: string) {
    this.calls.push(`run ${runId}`);
    const row = this.runs.find(r => r.run_id === runId)!;
    return {
      run: {
        ...row,
        metrics: {
          loss: { last: 0.1, min: 0.1, max: 1, step: 2, count: 3, timestamp: 0 }
        },
        tags: {},
        datasets: [],
        artifacts: []
      }
    };
  }

  async getMetricHistory(runId: string, key: string) {
    this.calls.push(`history ${runId} ${key}`);
    return {
      run_id: runId,
      key,
      history: [0, 1, 2].map(step => ({
        step,
        value: 1 / (step + 1),
        timestamp: step
      }))
    };
  }

  async listModels() {
    this.calls.push('models');
    this._fail();
    return [];
  }

  async getModel(name: string): Promise<any> {
    this.calls.push(`model ${name}`);
    return { model: { name }, versions: [], aliases: {}, alias_history: [] };
  }

  async promote(name: string, request: any): Promise<any> {
    this.calls.push(`promote ${name} ${request.alias}`);
    this._fail();
    return { report: { passed: true } };
  }

  async listDeployments() {
    this.calls.push('deployments');
    this._fail();
    return [];
  }

  async stopDeployment(name: string): Promise<any> {
    this.calls.push(`stop ${name}`);
    return { name, status: 'stopped' };
  }

  async getDrift() {
    this.calls.push('drift');
    this._fail();
    return { reports: [], windows: [] };
  }

  async exportNotebook(request: any): Promise<any> {
    this.calls.push(`export ${request.path}`);
    return { files: [] };
  }

  private _fail(): void {
    if (this.failWith) {
      throw this.failWith;
    }
  }
}
