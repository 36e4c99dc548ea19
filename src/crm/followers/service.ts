/**
 * The follower lifecycle from the gateway's domain events: subscribe (first and re-subscribe, with scene
 * and QR scene), unsubscribe, interactions (which open the 48-hour customer-service window), location.
 * Cheap and idempotent: one identity lookup, one timeline insert keyed by the event id, one state update.
 * User info is fetched later by a job (enrichFollowers), never on the callback's path.
 */
import type { Types } from 'mongoose';
import { isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import { identityOf, resolveProfile, type IdentityInput } from '../identities/service.js';
import { Profile } from '../profiles/model.js';
import { applyWechatTags } from '../tags/service.js';
import { recordEvent } from '../timeline/record.js';
import { Follower, SubscriptionEvent, type FollowerDoc, type SubscriptionEventDoc } from './model.js';

export const FOLLOWER_EVENT_KINDS = [
  'subscribe',
  'unsubscribe',
  'message',
  'click',
  'view',
  'scan',
  'location',
  'template_delivered',
  'template_clicked',
  'other',
] as const;
export type FollowerEventKind = (typeof FOLLOWER_EVENT_KINDS)[number];

/** Kinds the follower initiates: they open WeChat's 48-hour customer-service window. */
const INTERACTIONS = new Set<FollowerEventKind>(['subscribe', 'message', 'click', 'view', 'scan', 'location']);

export const CS_WINDOW_MS = 48 * 3600 * 1000;

export interface FollowerEventInput {
  /** The gateway's dedup key (MsgId, or FromUserName+CreateTime for events): a retry is recorded once. */
  eventId: string;
  account: string;
  openid: string;
  unionid?: string;
  kind: FollowerEventKind;
  /** subscribe_scene, when known (ADD_SCENE_QR_CODE, ADD_SCENE_SEARCH, …). */
  scene?: string;
  /** The QR code's scene (EventKey without the qrscene_ prefix). */
  qrScene?: string;
  location?: { latitude: number; longitude: number; precision?: number };
  at: Date;
  payload?: Record<string, unknown>;
}

export interface FollowerEventResult {
  profileId: string;
  duplicate: boolean;
  resubscribe?: boolean;
}

const ENRICH_ACCOUNTS = 'crm:enrich:accounts';
const enrichSet = (account: string) => `crm:enrich:${account}`;

/** Records one event of a follower (idempotent by eventId). */
export async function recordFollowerEvent(deps: CrmDeps, input: FollowerEventInput): Promise<FollowerEventResult> {
  const source = `wechat:${input.account}`;
  const identities: IdentityInput[] = [identityOf.openid(input.account, input.openid)];
  if (input.unionid) identities.push(identityOf.unionid(input.unionid));
  const { profileId } = await resolveProfile(deps, { identities, source, seed: { stage: 'follower' } });
  const appended = await recordEvent(deps, {
    profileId,
    type: `wechat.${input.kind}`,
    at: input.at,
    source,
    payload: {
      openid: input.openid,
      ...(input.scene ? { scene: input.scene } : {}),
      ...(input.qrScene ? { qrScene: input.qrScene } : {}),
      ...(input.location ? { location: input.location } : {}),
      ...(input.payload ?? {}),
    },
    dedupKey: `wechat:${input.account}:${input.eventId}`,
  });
  if (appended.duplicate) return { profileId: profileId.toHexString(), duplicate: true };

  const follower = await ensureFollower(input.account, input.openid, profileId);
  const set: Partial<FollowerDoc> = {};
  let resubscribe: boolean | undefined;
  if (input.kind === 'subscribe' || input.kind === 'unsubscribe') {
    resubscribe = input.kind === 'subscribe' && follower.firstSubscribedAt !== undefined;
    await SubscriptionEvent.create({
      eventId: `${input.account}:${input.eventId}`,
      account: input.account,
      openid: input.openid,
      profileId,
      kind: input.kind,
      resubscribe,
      scene: input.scene,
      qrScene: input.qrScene,
      at: input.at,
    }).catch((err: unknown) => {
      if (!isDuplicateKey(err)) throw err;
    });
    // Events can arrive out of order: only a newer event changes the subscription state.
    const newer = !follower.stateAt || follower.stateAt <= input.at;
    if (input.kind === 'subscribe') {
      if (newer) Object.assign(set, { subscribed: true, stateAt: input.at });
      if (!follower.firstSubscribedAt || follower.firstSubscribedAt > input.at) set.firstSubscribedAt = input.at;
      if (!follower.lastSubscribedAt || follower.lastSubscribedAt < input.at) {
        set.lastSubscribedAt = input.at;
        if (input.scene) set.subscribeScene = input.scene;
        if (input.qrScene) set.qrScene = input.qrScene;
      }
      await deps.redis.multi().sadd(enrichSet(input.account), input.openid).sadd(ENRICH_ACCOUNTS, input.account).exec();
    } else {
      if (newer) Object.assign(set, { subscribed: false, stateAt: input.at });
      if (!follower.lastUnsubscribedAt || follower.lastUnsubscribedAt < input.at) set.lastUnsubscribedAt = input.at;
    }
  }
  if (INTERACTIONS.has(input.kind) && (!follower.lastInteractionAt || follower.lastInteractionAt < input.at))
    set.lastInteractionAt = input.at;
  if (input.kind === 'location' && input.location) set.location = { ...input.location, at: input.at };
  if (Object.keys(set).length > 0) await Follower.updateOne({ _id: follower._id }, { $set: set });
  if (input.kind === 'subscribe' || input.kind === 'unsubscribe')
    await reconcileSubscription(input.account, input.openid);
  if (set.lastInteractionAt) await Profile.updateOne({ _id: profileId }, { $max: { lastInteractionAt: input.at } });
  if (input.kind === 'subscribe')
    await Profile.updateOne({ _id: profileId, stage: 'lead' }, { $set: { stage: 'follower' } });
  return { profileId: profileId.toHexString(), duplicate: false, resubscribe };
}

/** What the subscription history (insert-only, keyed by event id) says about a follower. */
export interface SubscriptionSummary {
  subscribed: boolean;
  stateAt: Date;
  firstSubscribedAt?: Date;
  lastSubscribedAt?: Date;
  lastUnsubscribedAt?: Date;
}

/** Folds a follower's history: the latest event decides the state; ties go to the later insert. */
export function summarizeSubscription(events: readonly SubscriptionEventDoc[]): SubscriptionSummary | undefined {
  const sorted = [...events].sort(
    (a, b) => a.at.getTime() - b.at.getTime() || a._id.toHexString().localeCompare(b._id.toHexString()),
  );
  const last = sorted.at(-1);
  if (!last) return undefined;
  const subscribes = sorted.filter((e) => e.kind === 'subscribe');
  const unsubscribes = sorted.filter((e) => e.kind === 'unsubscribe');
  return {
    subscribed: last.kind === 'subscribe',
    stateAt: last.at,
    firstSubscribedAt: subscribes[0]?.at,
    lastSubscribedAt: subscribes.at(-1)?.at,
    lastUnsubscribedAt: unsubscribes.at(-1)?.at,
  };
}

const sameTime = (a?: Date, b?: Date) => a?.getTime() === b?.getTime();

/**
 * Brings the follower row's subscription fields in line with the history. The row is a denormalised copy
 * for queries (`subscribed: true`); FerretDB can lose one of two concurrent updates of one document (an
 * enrichment write racing an unsubscribe), so every writer re-checks after writing, and reads of one
 * follower take the state from the history itself.
 */
export async function reconcileSubscription(account: string, openid: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const [events, follower] = await Promise.all([
      SubscriptionEvent.find({ account, openid }).lean(),
      Follower.findOne({ account, openid }).lean(),
    ]);
    const want = summarizeSubscription(events);
    if (!want || !follower) return;
    const drift: Partial<FollowerDoc> = {};
    if (follower.subscribed !== want.subscribed || !sameTime(follower.stateAt, want.stateAt)) {
      drift.subscribed = want.subscribed;
      drift.stateAt = want.stateAt;
    }
    for (const key of ['firstSubscribedAt', 'lastSubscribedAt', 'lastUnsubscribedAt'] as const)
      if (want[key] && !sameTime(follower[key], want[key])) drift[key] = want[key];
    if (Object.keys(drift).length === 0) return;
    await Follower.updateOne({ _id: follower._id }, { $set: drift });
  }
}

async function ensureFollower(account: string, openid: string, profileId: Types.ObjectId): Promise<FollowerDoc> {
  const found = await Follower.findOne({ account, openid }).lean();
  if (found) {
    if (!found.profileId.equals(profileId)) await Follower.updateOne({ _id: found._id }, { $set: { profileId } });
    return found;
  }
  try {
    return (await Follower.create({ account, openid, profileId, subscribed: false })).toObject();
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const again = await Follower.findOne({ account, openid }).lean();
    if (!again) throw err;
    return again;
  }
}

export interface PresentedFollower {
  account: string;
  openid: string;
  subscribed: boolean;
  firstSubscribedAt?: string;
  lastSubscribedAt?: string;
  lastUnsubscribedAt?: string;
  subscribeScene?: string;
  qrScene?: string;
  lastInteractionAt?: string;
  /** Whether a customer-service message may be sent now (48 hours after the last interaction). */
  customerServiceWindowOpen: boolean;
}

/** A follower's current state, or undefined. */
export async function followerState(
  deps: CrmDeps,
  account: string,
  openid: string,
): Promise<PresentedFollower | undefined> {
  const [f, events] = await Promise.all([
    Follower.findOne({ account, openid }).lean(),
    SubscriptionEvent.find({ account, openid }).lean(),
  ]);
  if (!f) return undefined;
  const history = summarizeSubscription(events);
  return presentFollower(deps, history ? { ...f, ...history } : f);
}

export function presentFollower(deps: Pick<CrmDeps, 'now'>, f: FollowerDoc): PresentedFollower {
  return {
    account: f.account,
    openid: f.openid,
    subscribed: f.subscribed,
    firstSubscribedAt: f.firstSubscribedAt?.toISOString(),
    lastSubscribedAt: f.lastSubscribedAt?.toISOString(),
    lastUnsubscribedAt: f.lastUnsubscribedAt?.toISOString(),
    subscribeScene: f.subscribeScene,
    qrScene: f.qrScene,
    lastInteractionAt: f.lastInteractionAt?.toISOString(),
    customerServiceWindowOpen:
      f.subscribed && !!f.lastInteractionAt && deps.now().getTime() - f.lastInteractionAt.getTime() < CS_WINDOW_MS,
  };
}

/** The subscribe/unsubscribe history of a follower, oldest first. */
export async function subscriptionHistory(account: string, openid: string): Promise<SubscriptionEventDoc[]> {
  return SubscriptionEvent.find({ account, openid }).sort({ at: 1 }).lean();
}

/**
 * Enrichment job body: for each account with new followers, up to `enrichBatchesPerRun` batchget calls
 * of `enrichBatchSize` openids; links unionids (which may merge profiles) and applies WeChat tags.
 * A failed batch goes back to the set for the next run.
 */
export async function enrichFollowers(deps: CrmDeps): Promise<{ fetched: number; failed: number }> {
  const source = deps.followerInfo;
  if (!source) return { fetched: 0, failed: 0 };
  let fetched = 0;
  let failed = 0;
  let budget = deps.config.enrichBatchesPerRun;
  const accounts = await deps.redis.smembers(ENRICH_ACCOUNTS);
  for (const account of accounts) {
    while (budget > 0) {
      const openids = await deps.redis.spop(enrichSet(account), deps.config.enrichBatchSize);
      if (openids.length === 0) {
        await deps.redis.srem(ENRICH_ACCOUNTS, account);
        // A follower added between the SPOP and the SREM keeps its account listed.
        if ((await deps.redis.scard(enrichSet(account))) > 0) await deps.redis.sadd(ENRICH_ACCOUNTS, account);
        break;
      }
      budget -= 1;
      let infos;
      try {
        infos = await source.batchGet(account, openids);
      } catch (err) {
        failed += openids.length;
        await deps.redis.sadd(enrichSet(account), ...openids);
        deps.logger.warn({ err: { message: (err as Error).message }, account }, 'crm: follower info batch failed');
        return { fetched, failed };
      }
      for (const info of infos) {
        const identities: IdentityInput[] = [identityOf.openid(account, info.openid)];
        if (info.unionid) identities.push(identityOf.unionid(info.unionid));
        const { profileId } = await resolveProfile(deps, {
          identities,
          source: `wechat:${account}`,
          seed: { stage: 'follower' },
        });
        const set: Partial<FollowerDoc> = { infoFetchedAt: deps.now(), profileId };
        if (info.subscribeScene) set.subscribeScene = info.subscribeScene;
        if (info.qrScene) set.qrScene = info.qrScene;
        if (info.tagIds) set.wechatTagIds = info.tagIds;
        await Follower.updateOne({ account, openid: info.openid }, { $set: set });
        await reconcileSubscription(account, info.openid);
        if (info.tagIds) await applyWechatTags(deps, { profileId, account, wechatTagIds: info.tagIds });
        fetched += 1;
      }
    }
  }
  return { fetched, failed };
}
