import { RunsPager } from '../src/runs';
import { RUN_LINK_PREFIX, runIdOfLink } from '../src/links';
import {
  breakable,
  columnWidth,
  metricOrder
} from '../src/components/runsTable';
import { FakeApi, makeRuns } from './fakes';

describe('nested runs in the runs table', () => {
  it("lists top-level runs and shows a parent's children right after it", async () => {
    const runs = makeRuns(5);
    const kids = makeRuns(2).map((r, i) => ({
      ...r,
      run_id: `kid${i}`,
      run_name: `step-${i}`,
      parent_run_id: 'id1'
    }));
    const api = new FakeApi([...runs, ...kids]);
    const pager = new RunsPager(api, {
      experiment: null,
      filter: '',
      order: null
    });
    await pager.load(0, 10);
    expect(pager.total).toBe(5);
    expect(pager.shownTotal).toBe(5);

    await pager.toggleChildren(1);
    expect(api.queries[api.queries.length - 1].parent).toBe('id1');
    expect(pager.shownTotal).toBe(7);
    const names = [0, 1, 2, 3, 4, 5, 6].map(
      i => pager.shownRow(i).run?.run_name
    );
    expect(names).toEqual([
      'run-00000',
      'run-00001',
      'step-0',
      'step-1',
      'run-00002',
      'run-00003',
      'run-00004'
    ]);
    expect(pager.shownRow(2).depth).toBe(1);
    expect(pager.shownRow(4)).toMatchObject({ depth: 0, root: 2 });
    expect(pager.isExpanded('id1')).toBe(true);

    await pager.toggleChildren(1);
    expect(pager.shownTotal).toBe(5);
    expect(pager.isExpanded('id1')).toBe(false);
  });
});

describe('runs table columns', () => {
  it('sizes headers to be read on two lines', () => {
    expect(breakable('test_accuracy')).toBe('test_\u200baccuracy');
    expect(columnWidth('acc', true)).toBe(56); // the minimum
    const long = columnWidth('val_accuracy', true);
    expect(long).toBeGreaterThanOrEqual('accuracy'.length * 6.6);
    expect(long).toBeLessThan('val_accuracy'.length * 7);
  });

  it("puts the sort key, then the filter's, then shown metrics first", () => {
    const rows = makeRuns(2).map(r => ({ ...r, metrics: { acc: 1, loss: 0 } }));
    const order = metricOrder(
      ['acc', 'duration_s', 'loss', 'seconds', 'training_score', 'zeta'],
      'metrics.zeta > 1',
      'metrics.loss',
      rows
    );
    expect(order.slice(0, 3)).toEqual(['loss', 'zeta', 'acc']);
    expect(order.indexOf('seconds')).toBeGreaterThan(order.indexOf('acc'));
  });
});

describe('run links', () => {
  it('reads the run id of a link from any output', () => {
    expect(runIdOfLink(`${RUN_LINK_PREFIX}abc123`)).toBe('abc123');
    expect(runIdOfLink('http://x/lab#jupyter-mlops/run/a%20b')).toBe('a b');
    expect(runIdOfLink('#elsewhere')).toBeNull();
    expect(runIdOfLink(null)).toBeNull();
  });
});
