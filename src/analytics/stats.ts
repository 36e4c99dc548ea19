/**
 * Experiment statistics: the two-proportion z-test (effect, confidence interval, two-sided p-value), the
 * sample-ratio-mismatch check (chi-square goodness of fit) and the minimum-sample rule that refuses to call a
 * winner too early. Pure functions, no I/O; every A/B and holdout comparison in the project goes through here.
 */

/** Standard normal cumulative distribution Φ(x), absolute error below 1e-14, relative error in the far tail below 1e-8 (Hart 1968, algorithm 5666, as given by G. West). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const a = Math.abs(x);
  let tail: number;
  if (a > 37) {
    tail = 0;
  } else {
    const e = Math.exp((-a * a) / 2);
    if (a < 7.07106781186547) {
      let num = 3.52624965998911e-2 * a + 0.700383064443688;
      num = num * a + 6.37396220353165;
      num = num * a + 33.912866078383;
      num = num * a + 112.079291497871;
      num = num * a + 221.213596169931;
      num = num * a + 220.206867912376;
      let den = 8.83883476483184e-2 * a + 1.75566716318264;
      den = den * a + 16.064177579207;
      den = den * a + 86.7807322029461;
      den = den * a + 296.564248779674;
      den = den * a + 637.333633378831;
      den = den * a + 793.826512519948;
      den = den * a + 440.413735824752;
      tail = (e * num) / den;
    } else {
      // Continued fraction for the far tail, where the rational approximation loses precision.
      let b = a + 0.65;
      b = a + 4 / b;
      b = a + 3 / b;
      b = a + 2 / b;
      b = a + 1 / b;
      tail = e / b / 2.506628274631;
    }
  }
  return x > 0 ? 1 - tail : tail;
}

/** Upper tail of the standard normal, 1 − Φ(x), without the cancellation of computing 1 − Φ for large x. */
export function normalSurvival(x: number): number {
  return normalCdf(-x);
}

/** Inverse of Φ: the z with Φ(z) = p (Acklam's rational approximation, refined by one Halley step). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    return Number.NaN;
  }
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
      (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  // One Halley step brings Acklam's 1e-9 relative error down to machine precision.
  const err = normalCdf(x) - p;
  const u = err * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15). */
export function logGamma(x: number): number {
  const g = 7;
  const coef = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const y = x - 1;
  let sum = coef[0] as number;
  for (let i = 1; i < g + 2; i++) sum += (coef[i] as number) / (y + i);
  const t = y + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Regularized upper incomplete gamma Q(s, x) = Γ(s, x)/Γ(s): series below s + 1, Lentz continued fraction above. */
export function upperRegularizedGamma(s: number, x: number): number {
  if (x <= 0) return 1;
  const lnPrefix = s * Math.log(x) - x - logGamma(s);
  if (x < s + 1) {
    let term = 1 / s;
    let sum = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (s + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lnPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - s;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - s);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(lnPrefix) * h;
}

/** P(χ²_df ≥ x): the p-value of a chi-square statistic with df degrees of freedom. */
export function chiSquareSurvival(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError('degrees of freedom must be positive');
  return upperRegularizedGamma(df / 2, x / 2);
}

/** Successes out of trials for one arm of a comparison. */
export interface ProportionSample {
  conversions: number;
  total: number;
}

export interface TwoProportionOptions {
  /** Confidence level of the interval and 1 − α of the test; 0.95 unless told. */
  confidence?: number;
  /** Below this many profiles in either arm no winner is called, whatever the p-value. */
  minSamplePerArm?: number;
}

export type Verdict = 'treatment_better' | 'control_better' | 'no_significant_difference' | 'insufficient_sample';

export interface TwoProportionResult {
  controlRate: number;
  treatmentRate: number;
  /** treatmentRate − controlRate (absolute, in proportion units). */
  difference: number;
  /** difference / controlRate; null when the control rate is zero. */
  relativeLift: number | null;
  /** Wald interval for the difference with unpooled standard error. */
  ci: { low: number; high: number; confidence: number };
  /** Test statistic with the pooled standard error (H0: equal rates). */
  z: number;
  pValue: number;
  significant: boolean;
  enoughSample: boolean;
  verdict: Verdict;
}

export const DEFAULT_MIN_SAMPLE_PER_ARM = 100;

function assertSample(name: string, s: ProportionSample): void {
  if (!Number.isInteger(s.total) || !Number.isInteger(s.conversions) || s.total < 0 || s.conversions < 0) {
    throw new RangeError(`${name}: counts must be non-negative integers`);
  }
  if (s.conversions > s.total) throw new RangeError(`${name}: more conversions than total`);
}

/**
 * Two-sided two-proportion z-test of treatment against control: the effect as difference and relative lift, a
 * confidence interval for the difference, a p-value, and a verdict that stays 'insufficient_sample' below the minimum.
 */
export function twoProportionTest(
  control: ProportionSample,
  treatment: ProportionSample,
  options: TwoProportionOptions = {},
): TwoProportionResult {
  assertSample('control', control);
  assertSample('treatment', treatment);
  const confidence = options.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new RangeError('confidence must be between 0 and 1');
  const minSample = options.minSamplePerArm ?? DEFAULT_MIN_SAMPLE_PER_ARM;

  const n1 = control.total;
  const n2 = treatment.total;
  const p1 = n1 > 0 ? control.conversions / n1 : 0;
  const p2 = n2 > 0 ? treatment.conversions / n2 : 0;
  const difference = p2 - p1;
  const relativeLift = p1 > 0 ? difference / p1 : null;
  const zCrit = normalQuantile(1 - (1 - confidence) / 2);

  const seUnpooled = n1 > 0 && n2 > 0 ? Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2) : Number.NaN;
  const ci = { low: difference - zCrit * seUnpooled, high: difference + zCrit * seUnpooled, confidence };

  let z = 0;
  let pValue = 1;
  if (n1 > 0 && n2 > 0) {
    const pooled = (control.conversions + treatment.conversions) / (n1 + n2);
    const sePooled = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
    if (sePooled > 0) {
      z = difference / sePooled;
      pValue = Math.min(1, 2 * normalSurvival(Math.abs(z)));
    }
  }
  const significant = pValue < 1 - confidence;
  const enoughSample = n1 >= minSample && n2 >= minSample;
  const verdict: Verdict = !enoughSample
    ? 'insufficient_sample'
    : !significant
      ? 'no_significant_difference'
      : difference > 0
        ? 'treatment_better'
        : 'control_better';
  return {
    controlRate: p1,
    treatmentRate: p2,
    difference,
    relativeLift,
    ci,
    z,
    pValue,
    significant,
    enoughSample,
    verdict,
  };
}

export interface SampleRatioResult {
  chiSquare: number;
  df: number;
  pValue: number;
  /** True when the observed split is implausible under the configured one (p below the threshold). */
  mismatch: boolean;
  threshold: number;
  expected: number[];
}

/** Sample-ratio-mismatch check: chi-square goodness of fit of observed arm sizes to the configured shares; flags p < 0.001. */
export function sampleRatioMismatch(
  observed: readonly number[],
  configuredShares: readonly number[],
  threshold = 0.001,
): SampleRatioResult {
  if (observed.length !== configuredShares.length || observed.length < 2) {
    throw new RangeError('need at least two arms, with one share per arm');
  }
  if (observed.some((o) => !Number.isInteger(o) || o < 0))
    throw new RangeError('arm sizes must be non-negative integers');
  if (configuredShares.some((s) => !(s > 0))) throw new RangeError('shares must be positive');
  const total = observed.reduce((s, o) => s + o, 0);
  const shareSum = configuredShares.reduce((s, w) => s + w, 0);
  const expected = configuredShares.map((w) => (total * w) / shareSum);
  const df = observed.length - 1;
  if (total === 0) return { chiSquare: 0, df, pValue: 1, mismatch: false, threshold, expected };
  let chiSquare = 0;
  observed.forEach((o, i) => {
    const e = expected[i] as number;
    chiSquare += ((o - e) * (o - e)) / e;
  });
  const pValue = chiSquareSurvival(chiSquare, df);
  return { chiSquare, df, pValue, mismatch: pValue < threshold, threshold, expected };
}

/**
 * Profiles needed per arm to detect an absolute change `minimumEffect` from `baseRate` with a two-sided test at
 * level alpha and the given power (normal approximation) — the default minimum sample for a planned comparison.
 */
export function requiredSamplePerArm(baseRate: number, minimumEffect: number, alpha = 0.05, power = 0.8): number {
  const p1 = baseRate;
  const p2 = baseRate + minimumEffect;
  if (!(p1 > 0 && p1 < 1 && p2 > 0 && p2 < 1) || minimumEffect === 0)
    throw new RangeError('rates must stay inside (0, 1)');
  const za = normalQuantile(1 - alpha / 2);
  const zb = normalQuantile(power);
  const pBar = (p1 + p2) / 2;
  const num = za * Math.sqrt(2 * pBar * (1 - pBar)) + zb * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return Math.ceil((num * num) / (minimumEffect * minimumEffect));
}
