import { describe, expect, it } from 'vitest';
import {
  chiSquareSurvival,
  normalCdf,
  normalQuantile,
  requiredSamplePerArm,
  sampleRatioMismatch,
  twoProportionTest,
} from './stats.js';

// Reference values: standard normal and chi-square table entries, and the two-proportion example recomputed
// independently with Python's math.erfc / statistics.NormalDist.
describe('normal distribution', () => {
  it.each([
    [0, 0.5],
    [1, 0.8413447460685429],
    [1.96, 0.9750021048517795],
    [-3, 0.0013498980316300957],
    [-5, 2.866515718791946e-7],
  ])('Φ(%s) matches the table value', (x, expected) => {
    expect(Math.abs(normalCdf(x) - expected)).toBeLessThan(1e-13);
  });

  it('keeps relative precision far in the tail', () => {
    expect(normalCdf(-8.5) / 9.479534822203355e-18).toBeCloseTo(1, 7);
    expect(normalCdf(40)).toBe(1);
    expect(normalCdf(-40)).toBe(0);
  });

  it('inverts Φ at the usual critical values', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489, 12);
    expect(normalQuantile(0.8)).toBeCloseTo(0.8416212335729144, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 10);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(Number.isNaN(normalQuantile(1.5))).toBe(true);
  });
});

describe('chi-square survival', () => {
  it.each([
    [3.841458820694124, 1, 0.05],
    [10.827566170662733, 1, 0.001],
    [5.991464547107979, 2, 0.05],
    [7.814727903251178, 3, 0.05],
    [18.307038053275146, 10, 0.05],
  ])('critical value %s with %s df has p = %s', (x, df, p) => {
    expect(chiSquareSurvival(x, df)).toBeCloseTo(p, 10);
  });

  it('agrees with the closed forms for 1 and 2 degrees of freedom', () => {
    expect(chiSquareSurvival(10, 1)).toBeCloseTo(0.0015654022580025488, 12);
    expect(chiSquareSurvival(6, 2)).toBeCloseTo(Math.exp(-3), 12);
    expect(chiSquareSurvival(0, 4)).toBe(1);
  });
});

describe('two-proportion z-test', () => {
  const control = { conversions: 200, total: 1000 };
  const treatment = { conversions: 250, total: 1000 };

  it('reports effect, interval and p-value of the reference example', () => {
    const r = twoProportionTest(control, treatment);
    expect(r.controlRate).toBe(0.2);
    expect(r.treatmentRate).toBe(0.25);
    expect(r.difference).toBeCloseTo(0.05, 12);
    expect(r.relativeLift).toBeCloseTo(0.25, 12);
    expect(r.z).toBeCloseTo(2.677397763008329, 10);
    expect(r.pValue).toBeCloseTo(0.007419649261025693, 10);
    expect(r.ci.low).toBeCloseTo(0.013463621687539853, 10);
    expect(r.ci.high).toBeCloseTo(0.08653637831246015, 10);
    expect(r.significant).toBe(true);
    expect(r.verdict).toBe('treatment_better');
  });

  it('is symmetric: swapping the arms flips the sign and keeps the p-value', () => {
    const r = twoProportionTest(treatment, control);
    expect(r.difference).toBeCloseTo(-0.05, 12);
    expect(r.pValue).toBeCloseTo(0.007419649261025693, 10);
    expect(r.verdict).toBe('control_better');
  });

  it('refuses to call a winner below the minimum sample, however small the p-value', () => {
    const r = twoProportionTest(
      { conversions: 1, total: 50 },
      { conversions: 30, total: 50 },
      { minSamplePerArm: 100 },
    );
    expect(r.pValue).toBeLessThan(1e-6);
    expect(r.enoughSample).toBe(false);
    expect(r.verdict).toBe('insufficient_sample');
  });

  it('calls no difference when the interval covers zero', () => {
    const r = twoProportionTest({ conversions: 100, total: 1000 }, { conversions: 105, total: 1000 });
    expect(r.significant).toBe(false);
    expect(r.ci.low).toBeLessThan(0);
    expect(r.ci.high).toBeGreaterThan(0);
    expect(r.verdict).toBe('no_significant_difference');
  });

  it('handles degenerate arms without NaN p-values', () => {
    const zero = twoProportionTest({ conversions: 0, total: 500 }, { conversions: 0, total: 500 });
    expect(zero.pValue).toBe(1);
    expect(zero.relativeLift).toBeNull();
    const empty = twoProportionTest({ conversions: 0, total: 0 }, { conversions: 3, total: 10 });
    expect(empty.pValue).toBe(1);
    expect(empty.verdict).toBe('insufficient_sample');
  });

  it('rejects impossible counts', () => {
    expect(() => twoProportionTest({ conversions: 5, total: 3 }, treatment)).toThrow(RangeError);
    expect(() => twoProportionTest({ conversions: -1, total: 3 }, treatment)).toThrow(RangeError);
    expect(() => twoProportionTest(control, treatment, { confidence: 1 })).toThrow(RangeError);
  });
});

describe('sample-ratio mismatch', () => {
  it('does not flag an ordinary random deviation', () => {
    const r = sampleRatioMismatch([5000, 5200], [1, 1]);
    expect(r.chiSquare).toBeCloseTo(3.9215686274509802, 12);
    expect(r.pValue).toBeCloseTo(0.04767038065616144, 10);
    expect(r.mismatch).toBe(false);
  });

  it('flags a deliberately skewed split', () => {
    const r = sampleRatioMismatch([5000, 5500], [1, 1]);
    expect(r.pValue).toBeLessThan(0.001);
    expect(r.mismatch).toBe(true);
  });

  it('uses the configured shares, not an even split', () => {
    expect(sampleRatioMismatch([9500, 500], [0.95, 0.05]).mismatch).toBe(false);
    expect(sampleRatioMismatch([9000, 1000], [0.95, 0.05]).mismatch).toBe(true);
    expect(sampleRatioMismatch([3300, 3350, 3350], [1, 1, 1]).df).toBe(2);
  });

  it('rejects malformed input', () => {
    expect(() => sampleRatioMismatch([10], [1])).toThrow(RangeError);
    expect(() => sampleRatioMismatch([10, 10], [1, 0])).toThrow(RangeError);
    expect(() => sampleRatioMismatch([10, 10], [1])).toThrow(RangeError);
  });
});

describe('required sample', () => {
  it('matches the textbook normal-approximation size for 10% → 12%', () => {
    expect(requiredSamplePerArm(0.1, 0.02)).toBe(3841);
  });
});
