/**
 * Holdouts: membership is a pure function of the profile id and the salt (stable across restarts and versions,
 * pinned here by known values); a simulated plan with a known lift is reported with that lift inside its interval;
 * a skewed split raises the sample-ratio flag.
 */
import { describe, expect, it } from 'vitest';
import {
  bucketOf,
  DEFAULT_HOLDOUT_POLICY,
  inGlobalControl,
  inPlanHoldout,
  marketingLift,
  planLift,
  liftReport,
  type Outcomes,
} from '../../src/reach/index.js';

/** A seeded generator (mulberry32): the simulation is the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const profiles = (count: number) =>
  Array.from({ length: count }, (_, i) => (0x65f0000000 + i).toString(16).padStart(24, '0'));

describe('membership', () => {
  it('is pinned by known values, so no restart or release can move a profile between groups', () => {
    expect(bucketOf('reach-holdout-v1', 'global', '65f000000000000000000001')).toBeCloseTo(0.5007700410123554, 15);
    expect(bucketOf('reach-holdout-v1', 'plan', 'plan1', '65f000000000000000000001')).toBeCloseTo(
      0.8026753810245779,
      15,
    );
  });

  it('puts the configured share in the control group, the same profiles every time', () => {
    const ids = profiles(40_000);
    const first = ids.filter((p) => inGlobalControl(DEFAULT_HOLDOUT_POLICY, p));
    const second = ids.filter((p) => inGlobalControl({ ...DEFAULT_HOLDOUT_POLICY }, p));
    expect(second).toEqual(first);
    expect(first.length / ids.length).toBeGreaterThan(0.047);
    expect(first.length / ids.length).toBeLessThan(0.053);
  });

  it('draws plan holdouts independently of the global group and of other plans', () => {
    const ids = profiles(30_000);
    const a = new Set(ids.filter((p) => inPlanHoldout(DEFAULT_HOLDOUT_POLICY, 'planA', p)));
    const b = ids.filter((p) => inPlanHoldout(DEFAULT_HOLDOUT_POLICY, 'planB', p));
    const both = b.filter((p) => a.has(p)).length;
    // Independent 10% draws overlap on about 1% of profiles.
    expect(both / ids.length).toBeGreaterThan(0.008);
    expect(both / ids.length).toBeLessThan(0.012);
    const inControlAndA = ids.filter((p) => a.has(p) && inGlobalControl(DEFAULT_HOLDOUT_POLICY, p)).length;
    expect(inControlAndA / ids.length).toBeLessThan(0.007);
  });

  it('changing the salt starts a new experiment', () => {
    const ids = profiles(20_000);
    const v1 = ids.filter((p) => inGlobalControl(DEFAULT_HOLDOUT_POLICY, p));
    const v2 = new Set(ids.filter((p) => inGlobalControl({ ...DEFAULT_HOLDOUT_POLICY, salt: 'v2' }, p)));
    expect(v1.filter((p) => v2.has(p)).length).toBeLessThan(v1.length * 0.2);
  });
});

describe('lift reports', () => {
  const treatedMemo = new Map<string, Set<string>>();
  /** The profiles a plan treats among the first `count` (hashing is the slow part: done once per plan). */
  function treatedOf(planId: string, count: number): Set<string> {
    const key = `${planId}:${count}`;
    let set = treatedMemo.get(key);
    if (!set) {
      set = new Set(
        profiles(count).filter(
          (p) => !inGlobalControl(DEFAULT_HOLDOUT_POLICY, p) && !inPlanHoldout(DEFAULT_HOLDOUT_POLICY, planId, p),
        ),
      );
      treatedMemo.set(key, set);
    }
    return set;
  }

  /** Treated profiles convert at `treatedRate`, held-out ones at `baseRate`; unfollows equal in both. */
  function simulate(planId: string, count: number, baseRate: number, treatedRate: number, seed: number): Outcomes {
    const rnd = random(seed);
    const treated = treatedOf(planId, count);
    const converted = new Set<string>();
    const unfollowed = new Set<string>();
    for (const p of profiles(count)) {
      if (rnd() < (treated.has(p) ? treatedRate : baseRate)) converted.add(p);
      if (rnd() < 0.01) unfollowed.add(p);
    }
    return { converted, unfollowed };
  }

  it('reports a plan with a known lift of +2 points inside its interval, and no unfollow effect', () => {
    const outcomes = simulate('plan-known', 60_000, 0.1, 0.12, 7);
    const report = planLift(DEFAULT_HOLDOUT_POLICY, 'plan-known', profiles(60_000), outcomes);
    expect(report.conversions.ci.low).toBeLessThan(0.02);
    expect(report.conversions.ci.high).toBeGreaterThan(0.02);
    expect(report.conversions.verdict).toBe('treatment_better');
    expect(report.conversions.relativeLift).toBeGreaterThan(0.1);
    expect(report.unfollows.verdict).toBe('no_significant_difference');
    expect(report.sampleRatio.mismatch).toBe(false);
  });

  it('covers the true lift in about 95% of repeated experiments', () => {
    // The report's arms, split once; each seed is a fresh experiment on the same audience.
    const ids = profiles(10_000);
    const treated = treatedOf('plan-repeat', 10_000);
    const treatedIds = ids.filter((p) => treated.has(p));
    const controlIds = ids.filter((p) => !treated.has(p) && !inGlobalControl(DEFAULT_HOLDOUT_POLICY, p));
    let covered = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const outcomes = simulate('plan-repeat', 10_000, 0.1, 0.12, seed);
      const { ci } = liftReport(treatedIds, controlIds, outcomes, 0.1).conversions;
      if (ci.low <= 0.02 && 0.02 <= ci.high) covered += 1;
    }
    expect(covered).toBeGreaterThanOrEqual(34);
  });

  it('measures marketing as a whole against the global control group', () => {
    const rnd = random(99);
    const converted = new Set<string>();
    const ids = profiles(60_000);
    for (const p of ids) if (rnd() < (inGlobalControl(DEFAULT_HOLDOUT_POLICY, p) ? 0.05 : 0.08)) converted.add(p);
    const report = marketingLift(DEFAULT_HOLDOUT_POLICY, ids, { converted, unfollowed: new Set() });
    expect(report.control.profiles).toBeGreaterThan(2_700);
    expect(report.conversions.ci.low).toBeLessThan(0.03);
    expect(report.conversions.ci.high).toBeGreaterThan(0.03);
    expect(report.conversions.verdict).toBe('treatment_better');
  });

  it('raises the sample-ratio flag when the split is skewed', () => {
    const ids = profiles(30_000);
    const control = ids.filter((p) => inPlanHoldout(DEFAULT_HOLDOUT_POLICY, 'plan-srm', p));
    const treated = ids.filter((p) => !inPlanHoldout(DEFAULT_HOLDOUT_POLICY, 'plan-srm', p));
    const none: Outcomes = { converted: new Set(), unfollowed: new Set() };
    expect(liftReport(treated, control, none, 0.1).sampleRatio.mismatch).toBe(false);
    // A bug drops a fifth of the control group (e.g. they were never recorded): the split no longer matches.
    const skewed = liftReport(treated, control.slice(0, Math.floor(control.length * 0.8)), none, 0.1);
    expect(skewed.sampleRatio.mismatch).toBe(true);
    expect(skewed.sampleRatio.pValue).toBeLessThan(0.001);
  });

  it('refuses to call a winner on a small plan', () => {
    const outcomes = simulate('plan-small', 600, 0.1, 0.3, 3);
    const report = planLift(DEFAULT_HOLDOUT_POLICY, 'plan-small', profiles(600), outcomes);
    expect(report.control.profiles).toBeLessThan(100);
    expect(report.conversions.verdict).toBe('insufficient_sample');
  });
});
