/**
 * The report of a plan's run, per variant and in total: target → passed anti-harassment and consent →
 * sent → delivered → clicked → converted, plus unfollows; ROI counting unfollows as harm; the same numbers
 * for the previous run of the plan to compare with.
 */
import { Types } from 'mongoose';
import { sampleRatioMismatch, twoProportionTest, type TwoProportionResult } from '../analytics/stats.js';
import { funnel, type FunnelRow } from './delivery.js';
import { PushOutcome, PushRun, type PlanValues, type PushPlanDoc } from './model.js';

export interface ReportRow {
  variant: 'A' | 'B' | 'total';
  targeted: number;
  passed: number;
  /** WeCom: in a member's task, not confirmed yet; and reported by WeCom as not sent (yet). */
  queued: number;
  notSent: number;
  sent: number;
  delivered: number;
  failed: number;
  clicked: number;
  converted: number;
  unfollowed: number;
  skippedBy: Record<string, number>;
  gainFen: number;
  harmFen: number;
  costFen: number;
  /** (conversions value − unfollows value − cost) / cost; null without a cost. */
  roi: number | null;
}

export interface RunReport {
  runId: string;
  startedAt: Date;
  rows: ReportRow[];
}

function valued(
  row: Omit<ReportRow, 'gainFen' | 'harmFen' | 'costFen' | 'roi'>,
  values: PlanValues,
  fixedCost: number,
) {
  const gainFen = row.converted * values.conversionFen;
  const harmFen = row.unfollowed * values.unfollowFen;
  const costFen = fixedCost + row.sent * values.costPerSendFen;
  return { ...row, gainFen, harmFen, costFen, roi: costFen > 0 ? (gainFen - harmFen - costFen) / costFen : null };
}

/** The rows of one run: one per variant, then the total. */
export async function runRows(plan: PushPlanDoc, runId: string): Promise<ReportRow[]> {
  const planId = plan._id.toString();
  const [funnelRows, outcomes] = await Promise.all([
    funnel(planId, runId),
    PushOutcome.aggregate<{ _id: { variant: 'A' | 'B'; kind: string }; n: number }>([
      { $match: { planId: new Types.ObjectId(planId), runId } },
      { $group: { _id: { variant: '$variant', kind: '$kind' }, n: { $sum: 1 } } },
    ]),
  ]);
  const count = (variant: string, kind: string) =>
    outcomes.filter((o) => o._id.variant === variant && o._id.kind === kind).reduce((s, o) => s + o.n, 0);
  const values = plan.values ?? { conversionFen: 0, unfollowFen: 0, costFen: 0, costPerSendFen: 0 };
  const totalSent = funnelRows.reduce((s, r) => s + r.sent, 0);
  const rows = funnelRows.map((f: FunnelRow) => {
    // The fixed cost is shared between variants by their share of the sends.
    const share = totalSent > 0 ? f.sent / totalSent : 0;
    return valued(
      {
        ...f,
        clicked: count(f.variant, 'click'),
        converted: count(f.variant, 'conversion'),
        unfollowed: count(f.variant, 'unfollow'),
      },
      values,
      Math.round(values.costFen * share),
    );
  });
  const total = {
    variant: 'total' as const,
    targeted: 0,
    passed: 0,
    queued: 0,
    notSent: 0,
    sent: 0,
    delivered: 0,
    failed: 0,
    clicked: 0,
    converted: 0,
    unfollowed: 0,
    skippedBy: {} as Record<string, number>,
  };
  for (const r of rows) {
    for (const k of [
      'targeted',
      'passed',
      'queued',
      'notSent',
      'sent',
      'delivered',
      'failed',
      'clicked',
      'converted',
      'unfollowed',
    ] as const)
      total[k] += r[k];
    for (const [reason, n] of Object.entries(r.skippedBy)) total.skippedBy[reason] = (total.skippedBy[reason] ?? 0) + n;
  }
  return [...rows, valued(total, values, values.costFen)];
}

export interface Comparison {
  /** Clicks per sent message, and conversions per sent message. */
  clickRate: TwoProportionResult;
  conversionRate: TwoProportionResult;
}

export interface AbComparison extends Comparison {
  /** The observed A/B split against the configured one (a broken split invalidates the test). */
  sampleRatio: { pValue: number; mismatch: boolean; expected: number[] };
}

export interface PlanReport {
  run: RunReport | null;
  previous: RunReport | null;
  runs: { runId: string; startedAt: Date }[];
  /** Variant B (treatment) against A (control) in this run; null without both variants. */
  ab: AbComparison | null;
  /** This run (treatment) against the previous run (control); null without a previous run. */
  vsPrevious: Comparison | null;
}

function compare(control: ReportRow, treatment: ReportRow): Comparison {
  return {
    clickRate: twoProportionTest(
      { conversions: control.clicked, total: control.sent },
      { conversions: treatment.clicked, total: treatment.sent },
    ),
    conversionRate: twoProportionTest(
      { conversions: control.converted, total: control.sent },
      { conversions: treatment.converted, total: treatment.sent },
    ),
  };
}

function abOf(plan: PushPlanDoc, rows: ReportRow[]): AbComparison | null {
  const a = rows.find((r) => r.variant === 'A');
  const b = rows.find((r) => r.variant === 'B');
  if (!a || !b || !(plan.splitB > 0)) return null;
  const srm = sampleRatioMismatch([a.targeted, b.targeted], [1 - plan.splitB, plan.splitB]);
  return {
    ...compare(a, b),
    sampleRatio: { pValue: srm.pValue, mismatch: srm.mismatch, expected: srm.expected },
  };
}

/** The report of a run (the latest by default) and of the run before it. */
export async function planReport(plan: PushPlanDoc, runId?: string): Promise<PlanReport> {
  const runs = await PushRun.find({ planId: plan._id }).sort({ startedAt: -1 }).limit(100).lean();
  const index = runId ? runs.findIndex((r) => r.runId === runId) : 0;
  const current = index >= 0 ? runs[index] : undefined;
  const before = index >= 0 ? runs[index + 1] : undefined;
  const reportOf = async (r: { runId: string; startedAt: Date } | undefined) =>
    r ? { runId: r.runId, startedAt: r.startedAt, rows: await runRows(plan, r.runId) } : null;
  const run = await reportOf(current);
  const previous = await reportOf(before);
  const totalOf = (r: RunReport) => r.rows.find((row) => row.variant === 'total')!;
  return {
    run,
    previous,
    runs: runs.map((r) => ({ runId: r.runId, startedAt: r.startedAt })),
    ab: run ? abOf(plan, run.rows) : null,
    vsPrevious: run && previous ? compare(totalOf(previous), totalOf(run)) : null,
  };
}
