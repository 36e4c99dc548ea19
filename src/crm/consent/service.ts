/**
 * Marketing consent per channel. Opt-outs are appended and read back by the very next check, so an
 * opt-out keyword ("TD", "退订", configurable) takes effect at once.
 */
import type { Types } from 'mongoose';
import type { CrmDeps } from '../deps.js';
import { findByIdentity, identityOf, resolveProfile, type IdentityInput } from '../identities/service.js';
import { profileFamily, idsFilter } from '../profiles/family.js';
import { appendTimeline } from '../timeline/service.js';
import { ConsentRecord, type ConsentChannel } from './model.js';

/** A profile id, or any identity that resolves to one. */
export type ConsentSubject = { profileId: Types.ObjectId } | { identity: Pick<IdentityInput, 'kind' | 'key'> };

/** Without any record: WeChat and WeCom contacts chose to follow us; SMS and e-mail need an explicit opt-in. */
const DEFAULT_ALLOWED: Record<ConsentChannel, boolean> = { wechat: true, wecom: true, sms: false, email: false };

async function subjectProfile(subject: ConsentSubject): Promise<Types.ObjectId | undefined> {
  return 'profileId' in subject ? subject.profileId : findByIdentity(subject.identity);
}

/** Whether marketing pushes may go to the subject on `channel` now; an opt-out anywhere in a merged family wins. */
export async function isMarketingAllowed(
  _deps: CrmDeps,
  subject: ConsentSubject,
  channel: ConsentChannel,
): Promise<boolean> {
  const profileId = await subjectProfile(subject);
  if (!profileId) return false; // nobody we know: never market to them
  const family = await profileFamily(profileId);
  const records = await ConsentRecord.find({ profileId: idsFilter(family), channel: { $in: [channel, 'all'] } })
    .sort({ at: -1, _id: -1 })
    .limit(50)
    .lean();
  if (records.length === 0) return DEFAULT_ALLOWED[channel];
  if (family.length > 1) {
    // Per family member, its newest record counts; any member opted out means no.
    const newest = new Map<string, boolean>();
    for (const r of records) if (!newest.has(String(r.profileId))) newest.set(String(r.profileId), r.allowed);
    return [...newest.values()].every(Boolean);
  }
  return records[0]!.allowed;
}

export interface ConsentChange {
  subject: ConsentSubject;
  channel: ConsentChannel | 'all';
  /** Who or what changed it: 'keyword:TD', 'staff:<id>', 'ingest:<source>'. */
  source: string;
  reason?: string;
}

async function record(deps: CrmDeps, change: ConsentChange, allowed: boolean): Promise<Types.ObjectId | undefined> {
  const profileId = await subjectProfile(change.subject);
  if (!profileId) return undefined;
  const at = deps.now();
  await ConsentRecord.create({
    profileId,
    channel: change.channel,
    allowed,
    source: change.source,
    reason: change.reason,
    at,
  });
  await appendTimeline(deps, {
    profileId,
    type: allowed ? 'consent.opt_in' : 'consent.opt_out',
    at,
    source: change.source,
    payload: { channel: change.channel, reason: change.reason },
  });
  return profileId;
}

/** Stops marketing to the subject on a channel (or 'all'); effective for the next isMarketingAllowed. */
export async function optOut(deps: CrmDeps, change: ConsentChange): Promise<{ profileId?: string }> {
  const profileId = await record(deps, change, false);
  if (profileId) deps.logger.info({ profileId: String(profileId), channel: change.channel }, 'crm: marketing opt-out');
  return { profileId: profileId?.toHexString() };
}

/** Records consent to marketing on a channel. */
export async function optIn(deps: CrmDeps, change: ConsentChange): Promise<{ profileId?: string }> {
  const profileId = await record(deps, change, true);
  return { profileId: profileId?.toHexString() };
}

/** True when the text is one of the configured opt-out keywords (trimmed, case-insensitive). */
export function isOptOutKeyword(deps: Pick<CrmDeps, 'config'>, text: string): boolean {
  const t = text.trim().toLowerCase();
  return deps.config.optOutKeywords.some((k) => k.toLowerCase() === t);
}

/**
 * The keyword path for the conversation engine: an inbound text from a follower that is an opt-out
 * keyword stops WeChat marketing for them at once. Returns whether it was one.
 */
export async function handleInboundText(
  deps: CrmDeps,
  input: { account: string; openid: string; text: string },
): Promise<{ optedOut: boolean }> {
  if (!isOptOutKeyword(deps, input.text)) return { optedOut: false };
  // Resolve (or create) the follower's profile: the keyword may arrive before the subscribe event is recorded.
  const { profileId } = await resolveProfile(deps, {
    identities: [identityOf.openid(input.account, input.openid)],
    source: `wechat:${input.account}`,
    seed: { stage: 'follower' },
  });
  await optOut(deps, {
    subject: { profileId },
    channel: 'wechat',
    source: `keyword:${input.text.trim()}`,
    reason: 'opt-out keyword',
  });
  return { optedOut: true };
}

/** Current consent per channel for the profile page. */
export async function consentSummary(
  deps: CrmDeps,
  profileId: Types.ObjectId,
): Promise<Record<ConsentChannel, boolean>> {
  const channels = Object.keys(DEFAULT_ALLOWED) as ConsentChannel[];
  const values = await Promise.all(channels.map((c) => isMarketingAllowed(deps, { profileId }, c)));
  return Object.fromEntries(channels.map((c, i) => [c, values[i]!])) as Record<ConsentChannel, boolean>;
}
