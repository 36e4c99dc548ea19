/**
 * Red envelopes assembled from the rest of the system: eligibility and risk facts from the CRM, payouts
 * through WeChat Pay, customer messages through the official-account client, payout jobs on Agenda, the
 * chat entry (a campaign's keyword, "我的红包"), and WeChat Pay's transfer callback.
 */
import Router from '@koa/router';
import mongoose, { Types } from 'mongoose';
import type { Agenda } from '../../infra/agenda.js';
import { idsFilter } from '../../crm/index.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Redis } from '../../infra/redis.js';
import type { HandlerRegistry } from '../../gateway/index.js';
import { replies } from '../../gateway/index.js';
import { isDomainError } from '../../infra/errors.js';
import { PlatformError } from '../../platform/kernel/errors.js';
import { answerPayNotification, type PayClient } from '../../platform/pay/index.js';
import type { RiskEngine } from '../../risk/engine.js';
import { DEFAULT_POLICY } from '../../risk/engine.js';
import { CUSTOMER_WORDING, type RedEnvelopeErrorCode } from './errors.js';
import { RedEnvelopeCampaign } from './model.js';
import { budgetReport, onTransferUpdate, payClaim, reconcilePayouts } from './payouts.js';
import {
  campaignForKeyword,
  claimEnvelope,
  claimsOf,
  describeClaims,
  yuan,
  type CampaignEligibilityPort,
  type ClaimNotifier,
  type RedEnvelopeDeps,
  type TransferPort,
} from './service.js';
import { createPayTransferPort } from './transfers.js';

export const PAY_CLAIM = 'redenvelope.pay-claim';
export const RECONCILE = 'redenvelope.reconcile-payouts';
export const CHECK_BUDGETS = 'redenvelope.check-budgets';

/** Payouts wait (retrying) until WeChat Pay is configured, rather than failing customers' claims. */
const payNotConfigured: TransferPort = {
  create: () =>
    Promise.reject(new PlatformError('wechatpay', 'config', 'NOT_CONFIGURED', 'WECHATPAY_* not set', 'retry')),
  query: () =>
    Promise.reject(new PlatformError('wechatpay', 'config', 'NOT_CONFIGURED', 'WECHATPAY_* not set', 'retry')),
};

export function createRedEnvelopeDeps(options: {
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  agenda: Agenda;
  risk: RiskEngine;
  eligibility: CampaignEligibilityPort;
  pay?: PayClient;
  notifier: ClaimNotifier;
}): RedEnvelopeDeps {
  return {
    redis: options.redis,
    logger: options.logger.child({ domain: 'redenvelope' }),
    metrics: options.metrics,
    risk: options.risk,
    riskPolicy: DEFAULT_POLICY,
    eligibility: options.eligibility,
    async riskFacts(profileId) {
      if (!Types.ObjectId.isValid(profileId)) return {};
      const db = mongoose.connection.db;
      if (!db) throw new Error('mongo is not connected');
      // One id is queried by equality (idsFilter): FerretDB filters `$in` in its own process, a scan of every
      // profile, follower and subscription event per claim.
      // A customer's history counts whole: events recorded under profiles merged into this one since (a
      // follower of two accounts is merged by unionid, whichever profile the events were filed under).
      const since = new Date(Date.now() - 30 * 86_400_000);
      const factsOf = (family: Types.ObjectId[]) =>
        Promise.all([
          db
            .collection('crm_followers')
            .findOne(
              { profileId: idsFilter(family), firstSubscribedAt: { $exists: true } },
              { projection: { firstSubscribedAt: 1 }, sort: { firstSubscribedAt: 1 } },
            ),
          db
            .collection('crm_subscription_events')
            .countDocuments({ profileId: idsFilter(family), kind: 'subscribe', at: { $gte: since } }),
        ]);
      const mergedInto = (frontier: Types.ObjectId[]) =>
        db
          .collection<{ _id: Types.ObjectId }>('crm_profiles')
          .find({ mergedInto: idsFilter(frontier) }, { projection: { _id: 1 } })
          .toArray();
      // The profile's own facts and its first merged generation are read at once: most profiles have no merged
      // ones, and their claim pays one round trip here instead of two. A family is read again whole.
      const own = new Types.ObjectId(profileId);
      const [merged, ownFacts] = await Promise.all([mergedInto([own]), factsOf([own])]);
      let [follower, subscribes] = ownFacts;
      if (merged.length > 0) {
        const family = [own];
        for (let frontier = merged.map((m) => m._id), depth = 1; frontier.length > 0; depth += 1) {
          family.push(...frontier);
          frontier = depth < 4 ? (await mergedInto(frontier)).map((m) => m._id) : [];
        }
        [follower, subscribes] = await factsOf(family);
      }
      return {
        ...(follower?.firstSubscribedAt instanceof Date ? { followedAt: follower.firstSubscribedAt } : {}),
        subscribesLast30Days: subscribes,
      };
    },
    transfers: options.pay ? createPayTransferPort(options.pay) : payNotConfigured,
    notifier: options.notifier,
    schedulePayout: async (claimId) => {
      await options.agenda.now(PAY_CLAIM, { claimId });
    },
  };
}

/** What the customer reads about their envelope, by notice kind. */
export function claimNoticeText(
  kind: 'confirm_needed' | 'paid' | 'failed',
  amountFen: number,
  reason?: string,
): string {
  if (kind === 'paid') return `您的红包 ¥${yuan(amountFen)} 已到账，请在微信零钱中查看。`;
  if (kind === 'confirm_needed') return `您的红包 ¥${yuan(amountFen)} 待确认收款，请回复“我的红包”查看并确认。`;
  return `抱歉，您的红包 ¥${yuan(amountFen)} 发放失败（${reason ?? '原因待查'}），客服会尽快联系您处理。`;
}

export function defineRedEnvelopeJobs(agenda: Agenda, deps: RedEnvelopeDeps): void {
  agenda.define(PAY_CLAIM, async (job) => {
    const claimId = (job.attrs.data as { claimId?: unknown } | undefined)?.claimId;
    if (typeof claimId === 'string') await payClaim(deps, claimId);
  });
  agenda.define(RECONCILE, async () => {
    const driven = await reconcilePayouts(deps);
    if (driven > 0) deps.logger.info({ driven }, 'payouts reconciled');
  });
  agenda.define(CHECK_BUDGETS, async () => {
    const campaigns = await RedEnvelopeCampaign.find({ status: { $in: ['running', 'paused'] } }, { _id: 1 }).lean<
      { _id: string }[]
    >();
    for (const c of campaigns) await budgetReport(deps, c._id);
  });
}

export async function scheduleRedEnvelopeJobs(agenda: Agenda): Promise<void> {
  await agenda.every('1 minute', RECONCILE);
  await agenda.every('5 minutes', CHECK_BUDGETS);
}

/** The chat: a running campaign's keyword claims; "我的红包" / "红包进度" answers with the real status. */
export function registerRedEnvelopeHandlers(
  registry: HandlerRegistry,
  deps: RedEnvelopeDeps,
  profileOf: (account: string, openid: string) => Promise<string | undefined>,
): void {
  registry.onText(async (message, ctx) => {
    const text = message.content.trim();
    const status = /^(我的红包|红包进度|红包到哪了)$/.test(text);
    const campaignId = status ? undefined : await campaignForKeyword(ctx.account, text);
    if (!status && !campaignId) return undefined;
    const profileId = await profileOf(ctx.account, message.openid);
    if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
    if (status) return replies.text(describeClaims(await claimsOf(profileId)));
    try {
      const result = await claimEnvelope(deps, {
        campaignId: campaignId!,
        profileId,
        account: ctx.account,
        openid: message.openid,
        entry: 'keyword',
        requestKey: `chat:${ctx.account}:${message.msgId}`,
      });
      if (result.status === 'won') return replies.text(`恭喜您获得红包 ¥${yuan(result.amountFen)}，正在发放中！`);
      if (result.status === 'lost') return replies.text('很遗憾，这次没有抽中，感谢参与！');
      return replies.text('您的领取正在审核中，结果会通知您。');
    } catch (err) {
      if (isDomainError(err) && err.code in CUSTOMER_WORDING)
        return replies.text(CUSTOMER_WORDING[err.code as RedEnvelopeErrorCode]);
      throw err;
    }
  });
}

/** WeChat Pay's transfer callback: verified, decrypted, applied to its claim; 5xx makes WeChat Pay re-send. */
export function payNotifyRoutes(pay: PayClient | undefined, deps: RedEnvelopeDeps): Router {
  const router = new Router();
  router.post('/wechatpay/notify', async (ctx) => {
    if (!pay) {
      ctx.status = 404;
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 64 * 1024) ctx.throw(413);
      chunks.push(chunk);
    }
    const answer = await answerPayNotification(
      pay,
      { headers: ctx.headers, body: Buffer.concat(chunks).toString('utf8') },
      async (event) => {
        if (event.kind !== 'transfer_bill_finished') return;
        await onTransferUpdate(deps, {
          outBillNo: event.outBillNo,
          state: event.state,
          transferBillNo: event.transferBillNo,
          ...(event.failReason ? { failReason: event.failReason } : {}),
        });
      },
    );
    ctx.status = answer.status;
    if ('body' in answer && answer.body) ctx.body = answer.body;
  });
  return router;
}
