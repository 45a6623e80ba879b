import { MlopsModel } from '../src/model';
import { orderClause, PAGE_SIZE, RunsPager } from '../src/runs';
import { ApiError, NOT_ENABLED_MESSAGE } from '../src/request';
import { FakeApi, makeRuns } from './fakes';

function apiError(status: number, message: string, body: any = null): ApiError {
  return new ApiError(new Response('', { status }), message, body);
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describe('orderClause', () => {
  it('back-ticks metric and param keys, not attributes', () => {
    expect(orderClause({ key: 'metrics.val/loss', descending: true })).toBe(
      'metrics.`val/loss` DESC'
    );
    expect(orderClause({ key: 'params.lr', descending: false })).toBe(
      'params.`lr` ASC'
    );
    expect(
      orderClause({ key: 'attributes.start_time', descending: true })
    ).toBe('attributes.start_time DESC');
  });
});

describe('RunsPager', () => {
  it('fetches only the pages in view, each once', async () => {
    const api = new FakeApi(makeRuns(10_000));
    const pager = new RunsPager(api, {
      experiment: 'big',
      filter: '',
      order: null
    });

    await pager.load(0, 30);
    expect(pager.total).toBe(10_000);
    expect(pager.row(0)?.run_name).toBe('run-00000');
    expect(pager.row(150)).toBeUndefined();

    await Promise.all([pager.load(150, 260), pager.load(150, 260)]);

    expect(api.queries.map(q => q.offset)).toEqual([0, 100, 200]);
    expect(
      api.queries.every(q => q.limit === PAGE_SIZE && q.experiment === 'big')
    ).toBe(true);
    expect(pager.row(260)?.run_name).toBe('run-00260');
    expect(pager.metricKeys).toEqual(['loss']);
  });

  it('never asks past the total', async () => {
    const api = new FakeApi(makeRuns(120));
    const pager = new RunsPager(api, {
      experiment: null,
      filter: '',
      order: null
    });

    await pager.load(0, 10);
    await pager.load(90, 400);

    expect(api.queries.map(q => q.offset)).toEqual([0, 100]);
  });

  it('refreshes the pages in view and forgets the rest', async () => {
    const api = new FakeApi(makeRuns(1000));
    const pager = new RunsPager(api, {
      experiment: null,
      filter: '',
      order: null
    });
    await pager.load(0, 10);
    await pager.load(500, 520);
    api.queries = [];
    api.runs = makeRuns(1001);

    await pager.refresh();

    expect(api.queries.map(q => q.offset)).toEqual([500]);
    expect(pager.total).toBe(1001);
    expect(pager.row(0)).toBeUndefined();
  });

  it('sends the sort order and the filter', async () => {
    const api = new FakeApi(makeRuns(3));
    const pager = new RunsPager(api, {
      experiment: null,
      filter: 'metrics.loss < 1',
      order: { key: 'metrics.loss', descending: true }
    });

    await pager.load(0, 10);

    expect(api.queries[0].filter).toBe('metrics.loss < 1');
    expect(api.queries[0].order_by).toEqual(['metrics.`loss` DESC']);
  });
});

describe('MlopsModel', () => {
  let model: MlopsModel;
  afterEach(() => model?.dispose());

  it('refreshes every expanded section, and only those', async () => {
    const api = new FakeApi(makeRuns(5));
    model = new MlopsModel({ api });

    await model.refresh();
    expect(new Set(api.calls)).toEqual(
      new Set(['experiments', 'runs', 'models', 'deployments', 'drift'])
    );
    expect(model.runs?.total).toBe(5);

    api.calls = [];
    model.setExpanded('models', false);
    model.setExpanded('drift', false);
    await model.refresh();
    expect(api.calls.sort()).toEqual(['deployments', 'experiments', 'runs']);
  });

  it('shows a bad filter inline and keeps the rows', async () => {
    const api = new FakeApi(makeRuns(5));
    model = new MlopsModel({ api });
    await model.refresh(['experiments']);
    const rows = model.runs;
    const message =
      'unexpected end of filter (at position 13)\n  metrics.acc >\n               ^';
    api.failWith = apiError(400, message, { message });

    await model.setFilter('metrics.acc >');

    expect(model.filterError).toBe(message);
    expect(model.runs).toBe(rows);
    expect(model.runsError).toBeNull();

    api.failWith = null;
    await model.setFilter('metrics.loss < 0.5');
    expect(model.filterError).toBeNull();
    expect(model.runs).not.toBe(rows);
    expect(model.filter).toBe('metrics.loss < 0.5');
  });

  it('cycles the sort order: descending, ascending, default', async () => {
    const api = new FakeApi(makeRuns(2));
    model = new MlopsModel({ api });

    await model.toggleOrder('metrics.loss');
    expect(model.order).toEqual({ key: 'metrics.loss', descending: true });
    await model.toggleOrder('metrics.loss');
    expect(model.order).toEqual({ key: 'metrics.loss', descending: false });
    await model.toggleOrder('metrics.loss');
    expect(model.order).toBeNull();
    expect(api.queries.map(q => q.order_by)).toEqual([
      ['metrics.`loss` DESC'],
      ['metrics.`loss` ASC'],
      []
    ]);
  });

  it('says the server extension is not enabled, and has no runs', async () => {
    const api = new FakeApi(makeRuns(2));
    api.failWith = apiError(404, NOT_ENABLED_MESSAGE);
    model = new MlopsModel({ api });

    await model.refresh(['experiments', 'models']);

    expect(model.experiments.notEnabled).toBe(true);
    expect(model.experiments.error).toBe(NOT_ENABLED_MESSAGE);
    expect(model.models.notEnabled).toBe(true);
    expect(model.runs).toBeNull();
    expect(model.runsError).toBe(NOT_ENABLED_MESSAGE);
  });

  it('compares the selected runs: details and every metric history', async () => {
    const api = new FakeApi(makeRuns(3));
    model = new MlopsModel({ api });
    const changed: string[] = [];
    model.changed.connect((_, section) => changed.push(section));

    await model.toggleRun('id1');
    await model.toggleRun('id2');

    expect(model.selected).toEqual(['id1', 'id2']);
    expect(model.comparison?.runs.map(r => r.run_id)).toEqual(['id1', 'id2']);
    expect(model.comparison?.metricKeys).toEqual(['loss']);
    expect(model.comparison?.histories.loss.id2.map(p => p.step)).toEqual([
      0, 1, 2
    ]);
    expect(changed).toContain('experiments');

    await model.toggleRun('id1');
    expect(model.selected).toEqual(['id2']);
  });

  it('refreshes the models after a promotion, refused or not', async () => {
    const api = new FakeApi();
    model = new MlopsModel({ api });
    api.failWith = apiError(409, 'refused', {
      message: 'refused',
      report: { passed: false }
    });

    const error = await model
      .promote('churn', { version: 2, alias: 'production' })
      .catch(e => e);

    expect((error as ApiError).body.report.passed).toBe(false);
    expect(api.calls).toEqual(['promote churn production', 'models']);
  });

  it('polls while visible and stands by while hidden', async () => {
    const api = new FakeApi(makeRuns(1));
    model = new MlopsModel({ api, interval: 30, documentHidden: () => false });
    model.setExpanded('experiments', false);
    model.setExpanded('models', false);
    model.setExpanded('drift', false);

    await sleep(100);
    expect(api.calls).toEqual([]); // never shown: nothing fetched

    model.visible = true;
    await sleep(140);
    const shown = api.calls.filter(c => c === 'deployments').length;
    expect(shown).toBeGreaterThanOrEqual(2);

    model.visible = false;
    await sleep(40);
    const before = api.calls.length;
    await sleep(120);
    expect(api.calls.length).toBe(before);
  });

  it('takes a new refresh interval', () => {
    model = new MlopsModel({ api: new FakeApi() });
    model.interval = 2500;
    expect(model.poll.frequency.interval).toBe(2500);
    model.interval = -1;
    expect(model.interval).toBe(2500);
  });
});
