import { createApi, runsQueryString } from '../src/api';
import {
  ApiError,
  NOT_ENABLED_MESSAGE,
  queryString,
  requestAPI
} from '../src/request';
import { fakeServer, json } from './fakes';

/** The ApiError that `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('the request did not fail');
}

describe('requestAPI', () => {
  it('calls the route below the base URL and parses JSON', async () => {
    const { settings, calls } = fakeServer(() => json({ experiments: [] }));

    const reply = await requestAPI<any>('experiments', {}, settings);

    expect(reply).toEqual({ experiments: [] });
    expect(calls.map(c => c.url)).toEqual([
      'http://127.0.0.1:8888/lab-base/jupyter-mlops/api/experiments'
    ]);
  });

  it("passes the server's message through, with the status and the body", async () => {
    const body = {
      message:
        'unexpected token (at position 13)\n  metrics.acc >\n               ^'
    };
    const { settings } = fakeServer(() => json(body, 400));

    const error = await failure(requestAPI('runs', {}, settings));

    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.message).toBe(body.message);
    expect(error.body).toEqual(body);
    expect(error.notEnabled).toBe(false);
  });

  it('keeps the gate report of a refused promotion (409)', async () => {
    const report = {
      passed: false,
      checks: [{ check: 'accuracy >= 0.95', passed: false }]
    };
    const { settings } = fakeServer(() =>
      json({ message: 'refused', report }, 409)
    );

    const error = await failure(
      requestAPI('models/churn/aliases', { method: 'POST' }, settings)
    );

    expect(error.status).toBe(409);
    expect(error.body.report).toEqual(report);
  });

  it('says the server extension is not enabled when no route answers (bare 404)', async () => {
    const page = new Response('<html>404: Not Found</html>', {
      status: 404,
      headers: { 'Content-Type': 'text/html' }
    });
    const { settings } = fakeServer(() => page);

    const error = await failure(requestAPI('experiments', {}, settings));

    expect(error.message).toBe(NOT_ENABLED_MESSAGE);
    expect(error.message).toContain(
      'jupyter server extension enable jupyter_mlops'
    );
    expect(error.notEnabled).toBe(true);
  });

  it('keeps a 404 with a message as an unknown thing, not a missing extension', async () => {
    const { settings } = fakeServer(() =>
      json({ message: "No run with id 'x'" }, 404)
    );

    const error = await failure(requestAPI('runs/x', {}, settings));

    expect(error.message).toBe("No run with id 'x'");
    expect(error.notEnabled).toBe(false);
  });

  it('falls back to the status line for a non-JSON error', async () => {
    const { settings } = fakeServer(
      () =>
        new Response('oops', {
          status: 500,
          statusText: 'Internal Server Error'
        })
    );

    const error = await failure(requestAPI('drift', {}, settings));

    expect(error.message).toBe('500 Internal Server Error');
  });
});

describe('query strings', () => {
  it('repeats arrays, skips empty values and encodes everything', () => {
    expect(
      queryString({
        experiment: 'a b&c',
        filter: '',
        order_by: ['x DESC', 'y'],
        limit: 5,
        offset: null
      })
    ).toBe('?experiment=a%20b%26c&order_by=x%20DESC&order_by=y&limit=5');
    expect(queryString({})).toBe('');
  });

  it('builds the runs query', () => {
    expect(
      runsQueryString({
        experiment: null,
        filter: "  params.model = 'rf'  ",
        order_by: ['metrics.`acc` DESC'],
        limit: 100,
        offset: 200
      })
    ).toBe(
      "?filter=params.model%20%3D%20'rf'&order_by=metrics.%60acc%60%20DESC&limit=100&offset=200"
    );
  });
});

describe('createApi', () => {
  it('encodes names and keys into the path and posts JSON', async () => {
    const { settings, calls } = fakeServer(url =>
      json(
        url.pathname.endsWith('/stop')
          ? { deployment: { name: 'a/b' } }
          : { report: {} }
      )
    );
    const api = createApi(settings);

    await api.promote('churn v2', {
      version: 2,
      alias: 'production',
      checks: ['acc >= 0.9']
    });
    await api.stopDeployment('a/b');
    await api.getMetricHistory('abc', 'val/loss').catch(() => undefined);

    expect(calls[0].url).toBe(
      'http://127.0.0.1:8888/lab-base/jupyter-mlops/api/models/churn%20v2/aliases'
    );
    expect(calls[0].method).toBe('POST');
    expect(JSON.parse(calls[0].body!)).toEqual({
      version: 2,
      alias: 'production',
      checks: ['acc >= 0.9']
    });
    expect(calls[1].url).toMatch(/deployments\/a%2Fb\/stop$/);
    expect(calls[2].url).toMatch(/runs\/abc\/metrics\/val%2Floss$/);
  });
});
