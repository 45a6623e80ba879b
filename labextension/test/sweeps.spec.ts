import { bands, ranked } from '../src/sweeps/charts';
import { ISweepDetail, ITrialRow } from '../src/sweeps/types';

function trial(number: number, state: string, value: number | null): ITrialRow {
  return {
    number,
    run_id: `r${number}`,
    run_name: `s-${number}`,
    state,
    status: 'FINISHED',
    value,
    params: {},
    metrics: {},
    duration_s: 1,
    start_time: 0,
    gap: null,
    overfit: '',
    error: ''
  };
}

function sweep(direction: string, trials: ITrialRow[]): ISweepDetail {
  return {
    name: 's',
    experiment: 'e',
    parent_run_id: 'p',
    metric: 'loss',
    direction,
    state: 'finished',
    budget: null,
    space: {},
    counts: {},
    best: null,
    history: [],
    importances: {},
    pair: null,
    trials
  };
}

const trials = [
  trial(0, 'complete', 0.5),
  trial(1, 'pruned', 0.9),
  trial(2, 'complete', 0.2),
  trial(3, 'failed', null),
  trial(4, 'complete', 0.7)
];

describe('ranked', () => {
  it('puts complete trials best first, then the rest newest first', () => {
    expect(ranked(sweep('minimize', trials)).map(t => t.number)).toEqual([
      2, 0, 4, 3, 1
    ]);
    expect(ranked(sweep('maximize', trials)).map(t => t.number)).toEqual([
      4, 0, 2, 3, 1
    ]);
  });
});

describe('bands', () => {
  it('gives the best trial band 0 and the worst the last band', () => {
    const done = trials.filter(t => t.state === 'complete');
    const minimize = bands(sweep('minimize', trials), done);
    expect(minimize.get('r2')).toBe(0);
    expect(minimize.get('r4')).toBe(3);
    expect(bands(sweep('maximize', trials), done).get('r4')).toBe(0);
  });
});
