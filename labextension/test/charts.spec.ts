import { driftScore, niceScale } from '../src/components/charts';
import { formatDuration, formatNumber } from '../src/components/dom';

describe('niceScale', () => {
  it('rounds outward to 1, 2 or 5 times a power of ten', () => {
    expect(niceScale(0.52, 0.93, 4)).toEqual({
      min: 0.5,
      max: 1,
      ticks: [0.5, 0.6, 0.7, 0.8, 0.9, 1]
    });
    expect(niceScale(0, 97, 4).ticks).toEqual([0, 20, 40, 60, 80, 100]);
  });

  it('widens a flat or unusable range', () => {
    expect(niceScale(3, 3).min).toBeLessThan(3);
    expect(niceScale(3, 3).max).toBeGreaterThan(3);
    expect(niceScale(NaN, 1)).toEqual({ min: 0, max: 1, ticks: [0, 0.5, 1] });
  });
});

describe('driftScore', () => {
  const column = (fields: object) => ({
    column: 'age',
    kind: 'numeric',
    method: 'ks',
    statistic: null,
    p_value: null,
    threshold: 0.05,
    drifted: null,
    status: 'ok',
    ...fields
  });

  it('is 1 at the threshold, for p-values and for distances', () => {
    expect(driftScore(column({ p_value: 0.05 }))).toBeCloseTo(1);
    expect(driftScore(column({ p_value: 0.0025 }))).toBeCloseTo(2);
    expect(driftScore(column({ p_value: 1 }))).toBeCloseTo(0);
    expect(
      driftScore(
        column({ method: 'wasserstein', statistic: 0.3, threshold: 0.1 })
      )
    ).toBeCloseTo(3);
  });

  it('is null for an untested column', () => {
    expect(driftScore(column({ threshold: null }))).toBeNull();
    expect(driftScore(column({ status: 'empty' }))).toBeNull();
  });
});

describe('formatting', () => {
  it('reads well', () => {
    expect(formatNumber(0.912345)).toBe('0.9123');
    expect(formatNumber(12000)).toBe('12,000');
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(1.5e-7)).toBe('1.50e-7');
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(245)).toBe('4 min 05 s');
  });
});
