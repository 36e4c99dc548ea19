/**
 * Referrals assembled from the rest of the system: friends and qualifying actions from the CRM, QR codes
 * through the official-account client, rewards through the CRM (points on the timeline, tags), red-envelope
 * claims and reservation codes; attribution from the gateway's `wechat.inbound` events; the chat entries
 * (a campaign's keyword or menu key sends the referrer's code, "我的邀请" answers with progress); the jobs.
 */
import { Types } from 'mongoose';
import type { Agenda } from '../../infra/agenda.js';
import type { EventBus } from '../../infra/events.js';
import { isDomainError } from '../../infra/errors.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import type { Crm } from '../../crm/index.js';
import {
  WECHAT_INBOUND,
  replies,
  type CustomerServiceSender,
  type HandlerRegistry,
  type Reply,
} from '../../gateway/index.js';
import { dedupKeyOf } from '../../platform/wechat/inbound.js';
import type { WechatClients } from '../../platform/wechat/index.js';
import { isPlatformError } from '../../platform/kernel/errors.js';
import { DEFAULT_POLICY, SHARED_IDENTIFIERS, type RiskEngine, type SharedIdentifier } from '../../risk/engine.js';
import { claimEnvelope, type RedEnvelopeDeps } from '../redenvelope/index.js';
import { claimCode, type ReservationDeps } from '../../reservations/index.js';
import { attributeSubscribe, onUnsubscribe, recordFollowerScan } from './attribution.js';
import { isReachRefused } from '../../reach/index.js';
import { sendCodeImage } from './code-image.js';
import { codeFor, renewDueCodes } from './codes.js';
import { CUSTOMER_WORDING, type ReferralErrorCode } from './errors.js';
import { campaignForEntry } from './service.js';
import { describeProgress, progressIn } from './report.js';
import { retryRewards, settleDue } from './settlement.js';
import type { ReferralDeps, ReferralSettings, ReferrerEligibility, RewardPort } from './service.js';

export const SETTLE = 'referral.settle-referrals';
export const RENEW_CODES = 'referral.renew-codes';
export const RETRY_REWARDS = 'referral.retry-rewards';

export function createReferralDeps(options: {
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  risk: RiskEngine;
  eligibility: ReferrerEligibility;
  wechatClients: WechatClients;
  crm: Crm;
  redEnvelopes: RedEnvelopeDeps;
  reservations: ReservationDeps;
  settings: ReferralSettings;
  /** The guarded customer-service sender (spends the follower's window in the reach ledger). */
  customerService: CustomerServiceSender;
}): ReferralDeps {
  const { crm, wechatClients } = options;
  const oid = (id: string) => new Types.ObjectId(id);
  const logger = options.logger.child({ domain: 'referral' });
  /** The CRM's unionid for the follower, else WeChat's (a new friend's enrichment has not run yet). */
  async function unionidOf(account: string, openid: string): Promise<string | undefined> {
    const profileId = await crm.identities.find(crm.identities.of.openid(account, openid));
    const known = profileId ? await crm.identities.unionidOf(profileId) : undefined;
    if (known) return known;
    try {
      return (await wechatClients(account).getUser(openid)).unionid;
    } catch (err) {
      if (!isPlatformError(err)) throw err;
      // Unknown is not "known elsewhere": the settlement asks again once the CRM has the unionid.
      logger.warn({ account, errcode: err.errcode }, 'referral: friend unionid not fetched');
      return undefined;
    }
  }
  const rewards: RewardPort = {
    async grant({ key, reward, profileId, account, openid }) {
      switch (reward.kind) {
        case 'points': {
          // The CRM keeps no points ledger yet: the timeline event is the record (dedupKey = idempotency).
          const { event } = await crm.timeline.record({
            profileId: oid(profileId),
            type: 'referral.points',
            at: new Date(),
            source: 'referral',
            payload: { points: reward.points },
            dedupKey: key,
          });
          return `timeline:${event._id.toHexString()}`;
        }
        case 'tag':
          await crm.tags.add({ profileId: oid(profileId), tagId: oid(reward.tagId), source: 'referral' });
          return `tag:${reward.tagId}`;
        case 'redenvelope': {
          const result = await claimEnvelope(options.redEnvelopes, {
            campaignId: reward.campaignId,
            profileId,
            account,
            openid,
            entry: 'api',
            requestKey: key,
          });
          return result.status === 'review' ? `review:${result.decisionId}` : `${result.status}:${result.claimId}`;
        }
        case 'reservation': {
          const code = await claimCode(options.reservations, {
            programId: reward.programId,
            profileId,
            via: 'referral',
            claimKey: key,
          });
          return `code:${code.codeId}`;
        }
      }
    },
  };
  return {
    redis: options.redis,
    logger,
    metrics: options.metrics,
    risk: options.risk,
    riskPolicy: DEFAULT_POLICY,
    eligibility: options.eligibility,
    qr: {
      createTemporary: (account, sceneStr, expireSeconds) =>
        wechatClients(account).createTemporaryQr({ sceneStr }, expireSeconds),
      createPermanent: (account, sceneStr) => wechatClients(account).createPermanentQr({ sceneStr }),
      imageUrl: (account, ticket) => wechatClients(account).qrImageUrl(ticket),
      image: (account, ticket) => wechatClients(account).fetchQrImage(ticket),
    },
    media: {
      uploadImage: (account, file) => wechatClients(account).uploadTemporaryMedia('image', file),
      sendImage: (account, openid, mediaId) => options.customerService.send(account, openid, replies.image(mediaId)),
    },
    friends: {
      profileOf: async (account, openid) =>
        (await crm.identities.find(crm.identities.of.openid(account, openid)))?.toHexString(),
      async knownBefore(account, openid, before) {
        const history = await crm.followers.history(account, openid);
        return history.some((e) => e.at.getTime() < before.getTime());
      },
      async knownElsewhere(account, openid, before) {
        const unionid = await unionidOf(account, openid);
        if (!unionid) return undefined;
        const owner = await crm.identities.ownerKnownBefore(crm.identities.of.unionid(unionid), before, {
          account,
          openid,
        });
        return owner?.toHexString();
      },
      async sharedIdentities(profileId, otherProfileId) {
        const kinds = await crm.identities.contestedBetween(oid(profileId), oid(otherProfileId));
        const shared: readonly string[] = SHARED_IDENTIFIERS;
        return kinds.filter((k): k is typeof k & SharedIdentifier => shared.includes(k));
      },
      // From the append-only subscription history: the follower document's flag can lose a concurrent update
      // on FerretDB, the history cannot.
      async isSubscribed(account, openid) {
        const last = (await crm.followers.history(account, openid)).at(-1);
        return last ? last.kind === 'subscribe' : undefined;
      },
      async didQualify(profileId, action, from, until) {
        const within = (at: Date) => at.getTime() >= from.getTime() && at.getTime() <= until.getTime();
        if (action === 'phone_verified') {
          const verifications = await crm.profiles.verifications(oid(profileId));
          return verifications.some((v) => v.kind === 'phone' && v.valid && within(new Date(v.at)));
        }
        const page = await crm.timeline.list({ profileId: oid(profileId), types: ['purchase'], limit: 50 });
        return page.events.some((e) => within(new Date(e.at)));
      },
      async nameOf(profileId) {
        try {
          return (await crm.profiles.view({ profileId: oid(profileId) })).profile.name;
        } catch (err) {
          // A profile the CRM does not have shows the fallback name; an outage is not "no name".
          if (isDomainError(err) && err.kind === 'not_found') return undefined;
          throw err;
        }
      },
    },
    rewards,
    settings: options.settings,
    now: () => new Date(),
  };
}

export const CODE_SENT = 'referral.code-sent';
declare module '../../infra/events.js' {
  interface DomainEvents {
    /** A referrer was answered with their code in the chat; the code's image follows. */
    [CODE_SENT]: { campaignId: string; profileId: string; account: string; openid: string };
  }
}

/**
 * Attribution follows the gateway's events, after WeChat got its answer (never on the reply's path); a
 * referrer answered with their code gets its image as a customer-service message.
 */
export function subscribeReferralEvents(events: EventBus, deps: ReferralDeps): void {
  events.subscribe(CODE_SENT, async (input) => {
    try {
      await sendCodeImage(deps, input);
    } catch (err) {
      // The text with the link already went out; a closed window or a busy WeChat only loses the image.
      if (!isReachRefused(err) && !(isDomainError(err) && err.code === 'qr_unavailable') && !isPlatformError(err))
        throw err;
      deps.logger.warn(
        { campaignId: input.campaignId, profileId: input.profileId, reason: err.message },
        'referral code image not sent',
      );
    }
  });
  events.subscribe(WECHAT_INBOUND, async ({ account, inbound }) => {
    if (inbound.kind !== 'event') return;
    const eventId = `${account}:${dedupKeyOf(inbound)}`;
    const at = new Date(inbound.createTime * 1000);
    if (inbound.event === 'subscribe' && inbound.sceneId?.startsWith('rf.'))
      await attributeSubscribe(deps, { eventId, account, openid: inbound.openid, scene: inbound.sceneId, at });
    else if (inbound.event === 'SCAN' && inbound.sceneId.startsWith('rf.'))
      await recordFollowerScan(deps, { eventId, account, openid: inbound.openid, scene: inbound.sceneId, at });
    else if (inbound.event === 'unsubscribe') await onUnsubscribe(deps, { account, openid: inbound.openid, at });
  });
}

/** The text sent with a referrer's code. */
export function codeMessage(view: { shareUrl: string; imageUrl: string; expiresAt?: Date }): string {
  const until = view.expiresAt
    ? `（有效期至 ${new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', dateStyle: 'short' }).format(view.expiresAt)}）`
    : '';
  return `这是您的专属邀请二维码${until}：\n${view.imageUrl}\n分享链接：${view.shareUrl}\n好友关注并完成任务后，您将获得奖励。回复“我的邀请”查看进度。`;
}

/** The chat: a running campaign's keyword (or menu key) sends the code; "我的邀请" answers with progress. */
export function registerReferralHandlers(
  registry: HandlerRegistry,
  deps: ReferralDeps,
  profileOf: (account: string, openid: string) => Promise<string | undefined>,
  events: EventBus,
): void {
  async function answer(account: string, openid: string, campaign: { _id: string } | null | undefined) {
    const profileId = await profileOf(account, openid);
    if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
    if (!campaign) return replies.text(describeProgress(await progressIn(deps, account, profileId)));
    try {
      const view = await codeFor(deps, { campaignId: campaign._id, profileId, openid });
      // The image follows the text reply, after WeChat got its answer (an upload may not fit in 5 s).
      events.publish(CODE_SENT, { campaignId: campaign._id, profileId, account, openid });
      return replies.text(codeMessage(view));
    } catch (err) {
      if (isDomainError(err) && err.code in CUSTOMER_WORDING)
        return replies.text(CUSTOMER_WORDING[err.code as ReferralErrorCode]);
      throw err;
    }
  }
  registry.onText(async (message, ctx): Promise<Reply | undefined> => {
    const text = message.content.trim();
    if (/^(我的邀请|邀请进度)$/.test(text)) return answer(ctx.account, message.openid, undefined);
    const campaignId = await campaignForEntry(ctx.account, { keyword: text });
    return campaignId ? answer(ctx.account, message.openid, { _id: campaignId }) : undefined;
  });
  registry.onEvent('CLICK', async (event, ctx) => {
    const campaignId = await campaignForEntry(ctx.account, { menuKey: event.key });
    return campaignId ? answer(ctx.account, event.openid, { _id: campaignId }) : undefined;
  });
}

export function defineReferralJobs(agenda: Agenda, deps: ReferralDeps): void {
  agenda.define(SETTLE, async () => {
    const counts = await settleDue(deps);
    if (counts.confirmed + counts.rejected > 0) deps.logger.info(counts, 'referrals settled');
  });
  agenda.define(RENEW_CODES, async () => {
    const renewed = await renewDueCodes(deps);
    if (renewed > 0) deps.logger.info({ renewed }, 'referral codes renewed');
  });
  agenda.define(RETRY_REWARDS, async () => {
    await retryRewards(deps);
  });
}

export async function scheduleReferralJobs(
  agenda: Agenda,
  settings: Pick<ReferralSettings, 'settleEverySeconds'>,
): Promise<void> {
  await agenda.every(`${settings.settleEverySeconds} seconds`, SETTLE);
  await agenda.every('1 hour', RENEW_CODES);
  await agenda.every('5 minutes', RETRY_REWARDS);
}
