/**
 * Event-triggered plans ("10 days after a purchase", "15 minutes after visiting a page"): a scanner reads
 * new timeline events of each running event plan's type and writes one trigger per plan and profile
 * (unique), due at the event's time plus the wait; a second step sends the due ones through the normal
 * delivery path under the run id `triggered`, whose unique send record makes each person's send happen once.
 */
import mongoose, { type Types } from 'mongoose';
import { isDuplicateKey } from '../infra/errors.js';
import { runPlan } from './delivery.js';
import { PushPlan, PushSend, PushTrigger, type PushPlanDoc } from './model.js';
import { ensureRun, type PushService } from './plans.js';

export const TRIGGERED_RUN = 'triggered';
/** Re-read this much before the last scan: events recorded by a slow writer are not missed. */
const OVERLAP_MS = 5 * 60_000;

function timeline() {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  return db.collection('crm_timeline');
}

async function insertIgnoringDuplicates<T>(model: mongoose.Model<T>, docs: object[]): Promise<number> {
  if (docs.length === 0) return 0;
  try {
    const inserted = await model.insertMany(docs, { ordered: false });
    return inserted.length;
  } catch (err) {
    const writeErrors = (err as { writeErrors?: { code?: number; err?: { code?: number } }[] }).writeErrors;
    if (!writeErrors && isDuplicateKey(err)) return 0;
    if (!writeErrors?.every((e) => (e.code ?? e.err?.code) === 11000)) throw err;
    return docs.length - writeErrors.length;
  }
}

/** Writes the triggers of new events for every running event plan; returns how many were new. */
export async function scanTriggers(svc: PushService, now = new Date()): Promise<number> {
  const plans = await PushPlan.find({ status: 'running', 'schedule.kind': 'event' }).lean<PushPlanDoc[]>();
  let created = 0;
  for (const plan of plans) {
    const markKey = `push:trigger-scan:${plan._id.toString()}`;
    const mark = Number(await svc.delivery.redis.get(markKey)) || 0;
    const startedAt = plan.startedAt ?? plan.createdAt;
    const from = new Date(Math.max(startedAt.getTime(), mark - OVERLAP_MS));
    const waitMs = (plan.schedule.waitMinutes ?? 0) * 60_000;
    const cursor = timeline().find(
      { type: plan.schedule.event, createdAt: { $gte: from } },
      { projection: { _id: 1, profileId: 1, at: 1 }, batchSize: 2000 },
    );
    let batch: object[] = [];
    for await (const event of cursor) {
      const at = event.at instanceof Date ? event.at : new Date(String(event.at));
      if (at < startedAt) continue; // before the plan started: not this plan's business
      batch.push({
        planId: plan._id,
        profileId: String(event.profileId),
        eventId: String(event._id),
        dueAt: new Date(at.getTime() + waitMs),
        state: 'pending',
      });
      if (batch.length >= 1000) {
        created += await insertIgnoringDuplicates(PushTrigger, batch);
        batch = [];
      }
    }
    created += await insertIgnoringDuplicates(PushTrigger, batch);
    await svc.delivery.redis.set(markKey, String(now.getTime()), 'EX', 30 * 86_400);
  }
  return created;
}

/** Sends the triggers that are due, plan by plan; returns how many were settled (sent or skipped). */
export async function fireDueTriggers(svc: PushService, now = new Date()): Promise<number> {
  const due = await PushTrigger.find({ state: 'pending', dueAt: { $lte: now } })
    .sort({ dueAt: 1 })
    .limit(5000)
    .lean();
  const byPlan = new Map<string, { planId: Types.ObjectId; profiles: Set<string> }>();
  for (const t of due) {
    const key = t.planId.toString();
    const entry = byPlan.get(key) ?? { planId: t.planId, profiles: new Set<string>() };
    entry.profiles.add(t.profileId);
    byPlan.set(key, entry);
  }
  let settled = 0;
  for (const [planId, { planId: oid, profiles }] of byPlan) {
    const plan = await PushPlan.findById(oid, { status: 1, audienceId: 1 }).lean<PushPlanDoc>();
    if (!plan || plan.status !== 'running') continue; // paused plans keep their triggers; cancelled never fire
    const audience = await svc.delivery.members(plan.audienceId);
    const targets = new Set([...profiles].filter((p) => audience.has(p)));
    await ensureRun(oid, TRIGGERED_RUN, 'event');
    if (targets.size > 0)
      await runPlan({ ...svc.delivery, members: async () => targets, now: () => now }, planId, TRIGGERED_RUN);
    // Settled: outside the audience, or its send record reached a final state (reserved ones retry).
    const done = await PushSend.find(
      { planId: oid, runId: TRIGGERED_RUN, profileId: { $in: [...targets] }, state: { $ne: 'reserved' } },
      { profileId: 1 },
    ).lean();
    const finished = new Set(done.map((d) => d.profileId));
    const settledIds = [...profiles].filter((p) => !targets.has(p) || finished.has(p));
    for (let i = 0; i < settledIds.length; i += 500) {
      const result = await PushTrigger.updateMany(
        { planId: oid, profileId: { $in: settledIds.slice(i, i + 500) }, state: 'pending' },
        { $set: { state: 'fired' } },
      );
      settled += result.modifiedCount;
    }
  }
  return settled;
}
