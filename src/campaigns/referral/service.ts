/**
 * Referral campaigns: their dependencies (ports to the CRM, the QR API and the reward machinery of other
 * domains) and their lifecycle draft → approved (by another staff member) → running ⇄ paused → ended.
 */
import { createSnapshot } from '../../infra/snapshot.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import type { RiskEngine, RiskPolicy, SharedIdentifier } from '../../risk/engine.js';
import { referralError } from './errors.js';
import {
  ReferralCampaign,
  type CampaignDoc,
  type CampaignStatus,
  type QualifyingAction,
  type Reward,
} from './model.js';

export interface ReferrerRule {
  tiers?: string[];
  verification?: string;
  audienceId?: string;
}

/** WeChat's parametric QR codes for one account. */
export interface QrPort {
  createTemporary(account: string, sceneStr: string, expireSeconds: number): Promise<QrTicket>;
  createPermanent(account: string, sceneStr: string): Promise<QrTicket>;
  imageUrl(account: string, ticket: string): string;
  /** The QR image itself (showqrcode). */
  image(account: string, ticket: string): Promise<{ contentType: string; bytes: Buffer }>;
}

/** Temporary material and the image message that carries it to a follower. */
export interface MediaPort {
  uploadImage(
    account: string,
    file: { bytes: Buffer; filename: string; contentType: string },
  ): Promise<{ mediaId: string; createdAt: Date }>;
  /** A customer-service image message (inside the follower's window, through the reach ledger). */
  sendImage(account: string, openid: string, mediaId: string): Promise<void>;
}
export interface QrTicket {
  ticket: string;
  url: string;
  expireSeconds?: number;
}

/** What the referral domain asks the CRM about friends and referrers. */
export interface FriendPort {
  profileOf(account: string, openid: string): Promise<string | undefined>;
  /** Whether the follower subscribed (or unsubscribed) this account before `before`. */
  knownBefore(account: string, openid: string, before: Date): Promise<boolean>;
  /**
   * The profile that already knew this follower's unionid before `before` (a follower of another of our
   * accounts, a WeCom contact, an import): such a friend is not a new customer. Undefined when none did.
   */
  knownElsewhere(account: string, openid: string, before: Date): Promise<string | undefined>;
  /** Identifiers two profiles are claimed to share while staff have not decided (e.g. one verified phone). */
  sharedIdentities(profileId: string, otherProfileId: string): Promise<SharedIdentifier[]>;
  /** The follower's current subscription, undefined when the CRM has not recorded them yet. */
  isSubscribed(account: string, openid: string): Promise<boolean | undefined>;
  /** Whether the friend did the qualifying action between the two instants. */
  didQualify(profileId: string, action: Exclude<QualifyingAction, 'stay'>, from: Date, until: Date): Promise<boolean>;
  /** A display name (masked before it is shown). */
  nameOf(profileId: string): Promise<string | undefined>;
}

/** Grants a reward through its own domain, idempotently by key; answers a short detail (claim id, code id). */
export interface RewardPort {
  grant(input: { key: string; reward: Reward; profileId: string; account: string; openid: string }): Promise<string>;
}

export interface ReferrerEligibility {
  check(profileId: string, rule: ReferrerRule): Promise<{ eligible: true } | { eligible: false; reason: string }>;
}

export interface ReferralSettings {
  /** Lifetime of a temporary code (≤ 2,592,000 s, WeChat's limit). */
  qrExpireSeconds: number;
  /** A temporary code is renewed this long before it expires. */
  qrRenewBeforeSeconds: number;
  /** Permanent codes this service may create per account (WeChat allows 100,000 in all). */
  permanentQrLimit: number;
  /** How often the settlement job runs (seconds). */
  settleEverySeconds: number;
}

export interface ReferralDeps {
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  risk: RiskEngine;
  riskPolicy: RiskPolicy;
  eligibility: ReferrerEligibility;
  qr: QrPort;
  media: MediaPort;
  friends: FriendPort;
  rewards: RewardPort;
  settings: ReferralSettings;
  /** The clock (replaceable: tests follow the sandbox's clock). */
  now: () => Date;
}

const shanghaiDay = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' });
/** Asia/Shanghai calendar day, YYYY-MM-DD. */
export function dayOf(at: Date): string {
  return shanghaiDay.format(at);
}

export interface CampaignInput {
  name: string;
  account: string;
  startAt: Date;
  endAt: Date;
  referrers?: ReferrerRule;
  qualify: { action: QualifyingAction; withinDays: number };
  referrerReward: Reward;
  friendReward?: Reward;
  milestones?: { friends: number; reward: Reward }[];
  capTotal: number;
  capPerDay: number;
  ipPerHour?: number;
  codeKind?: 'temporary' | 'permanent';
  keyword?: string;
  menuKey?: string;
}

export type Campaign = CampaignDoc;

/** Creates a draft campaign. */
export async function createCampaign(input: CampaignInput, createdBy: string): Promise<Campaign> {
  const problems: { field: string; problem: string }[] = [];
  if (input.endAt <= input.startAt) problems.push({ field: 'endAt', problem: 'must be after startAt' });
  if (input.capPerDay > input.capTotal) problems.push({ field: 'capPerDay', problem: 'must not exceed capTotal' });
  const steps = (input.milestones ?? []).map((m) => m.friends);
  if (new Set(steps).size !== steps.length) problems.push({ field: 'milestones', problem: 'friends must differ' });
  if (problems.length > 0) throw referralError('campaign_invalid', { problems });
  const created = await ReferralCampaign.create({
    ...input,
    milestones: [...(input.milestones ?? [])].sort((a, b) => a.friends - b.friends),
    keyword: input.keyword ?? '邀请好友',
    _id: `rf_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
    status: 'draft',
    createdBy,
  });
  return created.toObject() as Campaign;
}

export async function getCampaign(campaignId: string): Promise<Campaign> {
  const campaign = await ReferralCampaign.findById(campaignId).lean<Campaign>();
  if (!campaign) throw referralError('campaign_not_found', { campaignId });
  return campaign;
}

// The chat asks "is this text (or menu key) a running campaign's entry?" for every message: answered from
// memory (src/infra/snapshot.ts), never by a query per message.
const entryPoints = createSnapshot(async () => {
  const running = await ReferralCampaign.find({ status: 'running' }, { account: 1, keyword: 1, menuKey: 1 }).lean<
    { _id: string; account: string; keyword?: string | null; menuKey?: string | null }[]
  >();
  const byKeyword = new Map<string, string>();
  const byMenuKey = new Map<string, string>();
  for (const c of running) {
    if (c.keyword) byKeyword.set(`${c.account}\u0000${c.keyword}`, c._id);
    if (c.menuKey) byMenuKey.set(`${c.account}\u0000${c.menuKey}`, c._id);
  }
  return { byKeyword, byMenuKey };
});

/** The running campaign entered by this keyword (or menu key) on this account, if any. */
export async function campaignForEntry(
  account: string,
  entry: { keyword: string } | { menuKey: string },
): Promise<string | undefined> {
  const index = await entryPoints.get();
  return 'keyword' in entry
    ? index.byKeyword.get(`${account}\u0000${entry.keyword}`)
    : index.byMenuKey.get(`${account}\u0000${entry.menuKey}`);
}

async function setStatus(
  campaignId: string,
  from: CampaignStatus[],
  to: CampaignStatus,
  reason?: string,
  extra: Record<string, unknown> = {},
): Promise<Campaign> {
  const updated = await ReferralCampaign.findOneAndUpdate(
    { _id: campaignId, status: { $in: from } },
    { $set: { status: to, statusReason: reason ?? '', ...extra } },
    { returnDocument: 'after' },
  ).lean<Campaign>();
  entryPoints.invalidate();
  if (!updated) {
    await getCampaign(campaignId);
    throw referralError('campaign_state', { campaignId, to });
  }
  return updated;
}

/** Approves a draft; four eyes: never by its creator. */
export async function approveCampaign(campaignId: string, approvedBy: string): Promise<Campaign> {
  const campaign = await getCampaign(campaignId);
  if (campaign.createdBy === approvedBy) throw referralError('approval_needs_other_staff');
  return setStatus(campaignId, ['draft'], 'approved', undefined, { approvedBy });
}
export const startCampaign = (id: string) => setStatus(id, ['approved', 'paused'], 'running');
export const pauseCampaign = (id: string, reason: string) => setStatus(id, ['running'], 'paused', reason);
export const endCampaign = (id: string, reason = 'ended by staff') =>
  setStatus(id, ['draft', 'approved', 'running', 'paused'], 'ended', reason);

/** Whether the campaign takes new referrals at this instant. */
export function isLive(campaign: Campaign, at: Date): boolean {
  return campaign.status === 'running' && at >= campaign.startAt && at <= campaign.endAt;
}
