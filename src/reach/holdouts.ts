/**
 * Holdouts: a global control group that receives no marketing at all, and per-plan holdouts, each chosen by a
 * deterministic hash of the profile id and a salt — the same profile lands in the same group on every process,
 * after every restart and in every version (the hash and the salt are part of the contract; change the salt only
 * to start a new experiment). Lift reports compare treated profiles with their control using analytics/stats.
 */
import { createHash } from 'node:crypto';
import {
  sampleRatioMismatch,
  twoProportionTest,
  type SampleRatioResult,
  type TwoProportionResult,
} from '../analytics/stats.js';

export interface HoldoutPolicy {
  /** Share of all profiles in the global control group (no marketing), e.g. 0.05. */
  globalShare: number;
  /** Share of each plan's audience held out of that plan. */
  planShare: number;
  salt: string;
}

export const DEFAULT_HOLDOUT_POLICY: HoldoutPolicy = { globalShare: 0.05, planShare: 0.1, salt: 'reach-holdout-v1' };

/** A uniform number in [0, 1) from the first 48 bits of SHA-256 of the parts joined by ':'. */
export function bucketOf(...parts: string[]): number {
  const digest = createHash('sha256').update(parts.join(':')).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/** True when the profile belongs to the global control group (it receives no marketing). */
export function inGlobalControl(policy: HoldoutPolicy, profileId: string): boolean {
  return policy.globalShare > 0 && bucketOf(policy.salt, 'global', profileId) < policy.globalShare;
}

/** True when the profile is held out of this plan (independent of the global group). */
export function inPlanHoldout(
  policy: HoldoutPolicy,
  planId: string,
  profileId: string,
  share = policy.planShare,
): boolean {
  return share > 0 && bucketOf(policy.salt, 'plan', planId, profileId) < share;
}

/** What happened to the profiles of a comparison: who converted and who unfollowed in the period. */
export interface Outcomes {
  converted: ReadonlySet<string>;
  unfollowed: ReadonlySet<string>;
}

export interface LiftReport {
  treated: { profiles: number; conversions: number; unfollows: number };
  control: { profiles: number; conversions: number; unfollows: number };
  /** Conversions per profile, treated against control (difference, lift, CI, p-value, verdict). */
  conversions: TwoProportionResult;
  /** Unfollows per profile: a positive difference means the pushes cost followers. */
  unfollows: TwoProportionResult;
  /** Did the split come out as configured? A mismatch means the comparison cannot be trusted. */
  sampleRatio: SampleRatioResult;
}

function arm(profiles: readonly string[], outcomes: Outcomes) {
  let conversions = 0;
  let unfollows = 0;
  for (const p of profiles) {
    if (outcomes.converted.has(p)) conversions += 1;
    if (outcomes.unfollowed.has(p)) unfollows += 1;
  }
  return { profiles: profiles.length, conversions, unfollows };
}

/** Compares two groups of profiles; `controlShare` is the configured share of the control. */
export function liftReport(
  treatedProfiles: readonly string[],
  controlProfiles: readonly string[],
  outcomes: Outcomes,
  controlShare: number,
  minSamplePerArm?: number,
): LiftReport {
  const treated = arm(treatedProfiles, outcomes);
  const control = arm(controlProfiles, outcomes);
  const options = minSamplePerArm === undefined ? {} : { minSamplePerArm };
  return {
    treated,
    control,
    conversions: twoProportionTest(
      { conversions: control.conversions, total: control.profiles },
      { conversions: treated.conversions, total: treated.profiles },
      options,
    ),
    unfollows: twoProportionTest(
      { conversions: control.unfollows, total: control.profiles },
      { conversions: treated.unfollows, total: treated.profiles },
      options,
    ),
    sampleRatio: sampleRatioMismatch([treated.profiles, control.profiles], [1 - controlShare, controlShare]),
  };
}

/** The lift of one plan over its holdout, among the plan's audience (profiles in the global control excluded). */
export function planLift(
  policy: HoldoutPolicy,
  planId: string,
  audience: readonly string[],
  outcomes: Outcomes,
  minSamplePerArm?: number,
): LiftReport {
  const eligible = audience.filter((p) => !inGlobalControl(policy, p));
  const held = eligible.filter((p) => inPlanHoldout(policy, planId, p));
  const heldSet = new Set(held);
  const treated = eligible.filter((p) => !heldSet.has(p));
  return liftReport(treated, held, outcomes, policy.planShare, minSamplePerArm);
}

/** The lift of marketing as a whole: every profile outside the global control against the control. */
export function marketingLift(
  policy: HoldoutPolicy,
  profiles: readonly string[],
  outcomes: Outcomes,
  minSamplePerArm?: number,
): LiftReport {
  const control = profiles.filter((p) => inGlobalControl(policy, p));
  const controlSet = new Set(control);
  const treated = profiles.filter((p) => !controlSet.has(p));
  return liftReport(treated, control, outcomes, policy.globalShare, minSamplePerArm);
}
