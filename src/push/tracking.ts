/**
 * Tracking a push's effect: landing URLs go out wrapped in signed short links (`/r/:code`, the code carries
 * the send id and the content's index under an HMAC, so nobody can forge or enumerate them); a click is
 * recorded once per send; conversions (timeline events of the plan's conversion type, e.g. from the
 * ingestion API) go to the last push the customer clicked within the attribution window; an unfollow soon
 * after a push counts against it. Every outcome is unique by what it counts, so replays change nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import mongoose from 'mongoose';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import { noteUnfollow, onTemplateReceipt } from './delivery.js';
import { PushOutcome, PushPlan, PushSend, type PushOutcomeDoc, type PushPlanDoc, type PushSendDoc } from './model.js';
import type { PushService } from './plans.js';

const MAC_BYTES = 10;

function mac(secret: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest().subarray(0, MAC_BYTES);
}

/** The short code of a send's link: send id (12 bytes) + content index (1 byte) + HMAC (10 bytes). */
export function linkCode(secret: string, sendId: string, contentIndex: number): string {
  const body = Buffer.concat([Buffer.from(sendId, 'hex'), Buffer.from([contentIndex & 0xff])]);
  return Buffer.concat([body, mac(secret, body)]).toString('base64url');
}

/** The send and content a code names, or undefined when it is not one of ours. */
export function readLinkCode(secret: string, code: string): { sendId: string; contentIndex: number } | undefined {
  if (!/^[A-Za-z0-9_-]{31}$/.test(code)) return undefined;
  const raw = Buffer.from(code, 'base64url');
  if (raw.length !== 13 + MAC_BYTES) return undefined;
  const body = raw.subarray(0, 13);
  if (!timingSafeEqual(raw.subarray(13), mac(secret, body))) return undefined;
  return { sendId: body.subarray(0, 12).toString('hex'), contentIndex: body[12]! };
}

/** The tracked URL for a send (what delivery puts in the template message). */
export function trackedUrl(svc: Pick<PushService, 'config' | 'publicBaseUrl'>) {
  return (sendId: string, contentIndex: number) =>
    `${svc.publicBaseUrl}/r/${linkCode(svc.config.linkSecret, sendId, contentIndex)}`;
}

async function insertOutcome(doc: Omit<PushOutcomeDoc, '_id'>): Promise<boolean> {
  try {
    await PushOutcome.create(doc);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

const notALink = () => new DomainError('not_found', 'link_not_found', 'No such link.');

/** Records the click (once per send) and answers where to send the browser. */
export async function recordClick(svc: PushService, code: string, now = new Date()): Promise<string> {
  const link = readLinkCode(svc.config.linkSecret, code);
  if (!link) throw notALink();
  const send = await PushSend.findById(link.sendId).lean<PushSendDoc>();
  if (!send) throw notALink();
  const plan = await PushPlan.findById(send.planId, { contents: 1, landingUrl: 1 }).lean<PushPlanDoc>();
  const target = plan?.contents[link.contentIndex]?.url ?? plan?.landingUrl;
  if (!target) throw notALink();
  await insertOutcome({
    kind: 'click',
    key: send._id.toString(),
    sendId: send._id,
    planId: send.planId,
    runId: send.runId,
    variant: send.variant,
    profileId: send.profileId,
    at: now,
  });
  return target;
}

/**
 * Attributes conversion events recorded since the last scan (with an overlap) to the last push each
 * customer clicked within the window; returns how many new conversions were attributed.
 */
export async function scanConversions(svc: PushService, now = new Date()): Promise<number> {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  const types: string[] = await PushPlan.distinct('conversionEvent', {
    status: { $in: ['running', 'paused', 'done'] },
  });
  if (types.length === 0) return 0;
  const markKey = 'push:conversion-scan';
  const mark = Number(await svc.delivery.redis.get(markKey)) || 0;
  const windowMs = svc.config.attributionWindowHours * 3_600_000;
  const from = new Date(Math.max(mark - 5 * 60_000, now.getTime() - windowMs - 86_400_000));
  const plans = new Map<string, PushPlanDoc | null>();
  let attributed = 0;
  const cursor = db
    .collection('crm_timeline')
    .find(
      { type: { $in: types }, createdAt: { $gte: from } },
      { projection: { _id: 1, profileId: 1, type: 1, at: 1 }, batchSize: 2000 },
    );
  for await (const event of cursor) {
    const at = event.at instanceof Date ? event.at : new Date(String(event.at));
    const click = await PushOutcome.findOne({
      profileId: String(event.profileId),
      kind: 'click',
      at: { $lte: at, $gte: new Date(at.getTime() - windowMs) },
    })
      .sort({ at: -1 })
      .lean<PushOutcomeDoc>();
    if (!click) continue;
    const key = click.planId.toString();
    if (!plans.has(key))
      plans.set(key, await PushPlan.findById(click.planId, { conversionEvent: 1 }).lean<PushPlanDoc>());
    if (plans.get(key)?.conversionEvent !== event.type) continue;
    if (
      await insertOutcome({
        kind: 'conversion',
        key: String(event._id),
        sendId: click.sendId,
        planId: click.planId,
        runId: click.runId,
        variant: click.variant,
        profileId: click.profileId,
        at,
      })
    )
      attributed += 1;
  }
  await svc.delivery.redis.set(markKey, String(now.getTime()), 'EX', 30 * 86_400);
  return attributed;
}

/** An unfollow: counts against the last push sent to this follower within the window, and starts a cool-down. */
export async function recordUnfollow(svc: PushService, account: string, openid: string, at = new Date()) {
  const send = await PushSend.findOne({
    account,
    openid,
    state: { $in: ['sent', 'delivered'] },
    at: { $gte: new Date(at.getTime() - svc.config.unfollowWindowHours * 3_600_000), $lte: at },
  })
    .sort({ at: -1 })
    .lean<PushSendDoc>();
  if (!send) return false;
  await insertOutcome({
    kind: 'unfollow',
    key: send._id.toString(),
    sendId: send._id,
    planId: send.planId,
    runId: send.runId,
    variant: send.variant,
    profileId: send.profileId,
    at,
  });
  await noteUnfollow(svc.delivery, send.profileId);
  return true;
}

export interface PushInbound {
  account: string;
  inbound: { kind: string; event?: string; openid: string; msgId?: string; status?: string };
  receivedAt: Date;
}

/** The gateway's follower events the push domain cares about: unfollows and template delivery receipts. */
export async function onPushInbound(svc: PushService, e: PushInbound): Promise<void> {
  if (e.inbound.kind !== 'event') return;
  if (e.inbound.event === 'unsubscribe') await recordUnfollow(svc, e.account, e.inbound.openid, e.receivedAt);
  if (e.inbound.event === 'TEMPLATESENDJOBFINISH' && e.inbound.msgId)
    await onTemplateReceipt(svc.delivery.redis, e.inbound.msgId, e.inbound.status ?? '');
}
