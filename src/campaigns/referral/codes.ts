/**
 * Each referrer's personal QR code: a `scene_str` naming campaign and referrer, made once per referrer
 * (unique index), read through a short Redis cache, and renewed by a job before a temporary ticket expires.
 * Permanent codes count against WeChat's 100,000 per account: a Redis counter reserves one before asking,
 * and past the configured limit the referrer gets a temporary code instead.
 */
import { isDuplicateKey } from '../../infra/errors.js';
import { isPlatformError } from '../../platform/kernel/errors.js';
import { referralError } from './errors.js';
import { ReferralCode, type CodeDoc } from './model.js';
import { getCampaign, isLive, type QrTicket, type ReferralDeps } from './service.js';

export interface ReferralCodeView {
  campaignId: string;
  scene: string;
  kind: 'temporary' | 'permanent';
  ticket: string;
  /** What the QR encodes: opening it follows the account through the referrer's code (the share link). */
  shareUrl: string;
  /** The QR image. */
  imageUrl: string;
  expiresAt?: Date;
}

/** `rf.<campaign hex>.<profile id>`: 47 characters, within scene_str's 64. */
export function sceneOf(campaignId: string, profileId: string): string {
  return `rf.${campaignId.replace(/^rf_/, '')}.${profileId}`;
}

const cacheKey = (campaignId: string, profileId: string) => `rf:{${campaignId}}:code:${profileId}`;
const permanentKey = (account: string) => `rf:qr-permanent:${account}`;

function viewOf(deps: ReferralDeps, code: CodeDoc): ReferralCodeView {
  return {
    campaignId: code.campaignId,
    scene: code.scene,
    kind: code.kind,
    ticket: code.ticket,
    shareUrl: code.url,
    imageUrl: deps.qr.imageUrl(code.account, code.ticket),
    ...(code.expiresAt ? { expiresAt: code.expiresAt } : {}),
  };
}

/** Reserves one permanent code of the account's allowance (false when it is used up). */
async function reservePermanent(deps: ReferralDeps, account: string): Promise<boolean> {
  const key = permanentKey(account);
  if (!(await deps.redis.exists(key))) {
    const made = await ReferralCode.countDocuments({ account, kind: 'permanent' });
    await deps.redis.set(key, String(made), 'NX');
  }
  const n = await deps.redis.incr(key);
  if (n <= deps.settings.permanentQrLimit) return true;
  await deps.redis.decr(key);
  return false;
}

async function makeTicket(
  deps: ReferralDeps,
  account: string,
  scene: string,
  wanted: 'temporary' | 'permanent',
): Promise<{ kind: 'temporary' | 'permanent'; qr: QrTicket }> {
  try {
    if (wanted === 'permanent' && (await reservePermanent(deps, account))) {
      try {
        return { kind: 'permanent', qr: await deps.qr.createPermanent(account, scene) };
      } catch (err) {
        await deps.redis.decr(permanentKey(account));
        // 45030: WeChat's own allowance is used up (codes made elsewhere count too): fall back below.
        if (!isPlatformError(err) || err.errcode !== 45030) throw err;
      }
    }
    if (wanted === 'permanent')
      deps.logger.warn({ account }, 'permanent QR allowance used up: issuing a temporary referral code');
    return { kind: 'temporary', qr: await deps.qr.createTemporary(account, scene, deps.settings.qrExpireSeconds) };
  } catch (err) {
    if (isPlatformError(err)) throw referralError('qr_unavailable', { errcode: err.errcode });
    throw err;
  }
}

function expiryOf(deps: ReferralDeps, qr: QrTicket, at: Date): { expiresAt?: Date; renewAt?: Date } {
  if (qr.expireSeconds === undefined) return {};
  const expiresAt = new Date(at.getTime() + qr.expireSeconds * 1000);
  const renewBefore = Math.min(deps.settings.qrRenewBeforeSeconds, Math.floor(qr.expireSeconds / 2));
  return { expiresAt, renewAt: new Date(expiresAt.getTime() - renewBefore * 1000) };
}

/** The referrer's code for a running campaign, made on first request; eligibility is checked each time. */
export async function codeFor(
  deps: ReferralDeps,
  input: { campaignId: string; profileId: string; openid: string },
): Promise<ReferralCodeView> {
  const campaign = await getCampaign(input.campaignId);
  const at = deps.now();
  if (!isLive(campaign, at)) throw referralError('campaign_not_running');
  const verdict = await deps.eligibility.check(input.profileId, campaign.referrers ?? {});
  if (!verdict.eligible) throw referralError('not_eligible', { reason: verdict.reason });

  const cached = await deps.redis.get(cacheKey(campaign._id, input.profileId));
  if (cached) {
    const view = JSON.parse(cached) as ReferralCodeView & { expiresAt?: string };
    return { ...view, ...(view.expiresAt ? { expiresAt: new Date(view.expiresAt) } : {}) };
  }
  let code = await ReferralCode.findOne({
    campaignId: campaign._id,
    referrerProfileId: input.profileId,
  }).lean<CodeDoc>();
  if (!code) {
    const scene = sceneOf(campaign._id, input.profileId);
    const made = await makeTicket(deps, campaign.account, scene, campaign.codeKind);
    try {
      const created = await ReferralCode.create({
        campaignId: campaign._id,
        account: campaign.account,
        referrerProfileId: input.profileId,
        referrerOpenid: input.openid,
        scene,
        kind: made.kind,
        ticket: made.qr.ticket,
        url: made.qr.url,
        issuedAt: at,
        ...expiryOf(deps, made.qr, at),
      });
      code = created.toObject();
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      // A concurrent request made the code first; the permanent allowance we reserved goes back.
      if (made.kind === 'permanent') await deps.redis.decr(permanentKey(campaign.account));
      code = await ReferralCode.findOne({
        campaignId: campaign._id,
        referrerProfileId: input.profileId,
      }).lean<CodeDoc>();
      if (!code) throw err;
    }
  }
  const view = viewOf(deps, code);
  await cacheView(deps, code, view, at);
  return view;
}

async function cacheView(deps: ReferralDeps, code: CodeDoc, view: ReferralCodeView, at: Date): Promise<void> {
  // Cached until the code is due for renewal (an hour at most), so a renewed ticket is seen soon.
  const untilRenewal = code.renewAt ? Math.floor((code.renewAt.getTime() - at.getTime()) / 1000) : 3600;
  const ttl = Math.min(3600, untilRenewal);
  if (ttl > 0) await deps.redis.set(cacheKey(code.campaignId, code.referrerProfileId), JSON.stringify(view), 'EX', ttl);
}

/**
 * The renewal job: temporary codes due for renewal get a new ticket for the same scene (so a poster printed
 * with the old ticket keeps working until it expires). Idempotent: a code renewed by another run is no
 * longer due.
 */
export async function renewDueCodes(deps: ReferralDeps, batch = 100): Promise<number> {
  const at = deps.now();
  const due = await ReferralCode.find({ kind: 'temporary', renewAt: { $lte: at } })
    .sort({ renewAt: 1 })
    .limit(batch)
    .lean<CodeDoc[]>();
  let renewed = 0;
  for (const code of due) {
    try {
      const qr = await deps.qr.createTemporary(code.account, code.scene, deps.settings.qrExpireSeconds);
      const updated = await ReferralCode.findOneAndUpdate(
        { _id: code._id },
        { $set: { ticket: qr.ticket, url: qr.url, ...expiryOf(deps, qr, at) } },
        { returnDocument: 'after' },
      ).lean<CodeDoc>();
      await deps.redis.del(cacheKey(code.campaignId, code.referrerProfileId));
      if (updated) await cacheView(deps, updated, viewOf(deps, updated), at);
      renewed += 1;
    } catch (err) {
      if (!isPlatformError(err)) throw err;
      deps.logger.warn(
        { codeId: code._id.toString(), errcode: err.errcode },
        'referral code not renewed; retried next run',
      );
    }
  }
  return renewed;
}

/** The code a scene names (attribution). */
export async function codeOfScene(scene: string): Promise<CodeDoc | undefined> {
  if (!scene.startsWith('rf.')) return undefined;
  return (await ReferralCode.findOne({ scene }).lean<CodeDoc>()) ?? undefined;
}
