/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import { createEligibility } from './audiences/eligibility.js';
import { createRedEnvelopeDeps, claimNoticeText, registerRedEnvelopeHandlers } from './campaigns/redenvelope/wiring.js';
import type { RedEnvelopeDeps } from './campaigns/redenvelope/service.js';
import { followerEventOf } from './crm/bridge.js';
import { createCrm, type Crm } from './crm/index.js';
import { createInboundQueue, type InboundQueue } from './crm/inbound-queue.js';
import {
  createClientCustomerServiceSender,
  createGatewayServices,
  WECHAT_INBOUND,
  type CustomerServiceSender,
  type GatewayServices,
} from './gateway/index.js';
import { createEventBus, type EventBus } from './infra/events.js';
import type { Infra } from './infra/runtime.js';
import { createPayClient, type PayClient } from './platform/pay/index.js';
import { createWechatClients, type WechatClients } from './platform/wechat/index.js';
import { createWecomClient, type WecomClient } from './platform/wecom/index.js';
import { isPlatformError } from './platform/kernel/errors.js';
import { createServiceNotices, createClientTemplateSender, type ServiceNotices } from './push/notices.js';
import { loadMessageTemplates, type MessageTemplate } from './push/templates.js';
import { registerReservationHandlers } from './reservations/handlers.js';
import { createReservationDeps, type ReservationDeps } from './reservations/index.js';
import { createRiskEngine, type RiskEngine } from './risk/engine.js';
import { createStaffDomain, type StaffDomain } from './staff/index.js';

/**
 * Staff domain: `staff` (auth, accounts), `approvals` (four-eyes), `audit` (append-only log); the gateway
 * (`wechatHandlers`, `gateway`, …); platform clients; the CRM.
 */
export type AppDeps = Infra &
  StaffDomain &
  GatewayServices & {
    /** The official-account API client of an account by key (`wechatClients()` = the default account). */
    wechatClients: WechatClients;
    /** In-process domain events (e.g. `wechat.inbound`); subscribers are isolated from publishers. */
    events: EventBus;
    /** WeChat Pay v3 (absent when WECHATPAY_MCHID is not configured). */
    pay?: PayClient;
    /** WeCom clients by corp key (WECOM_KEY, default "default"). */
    wecom: ReadonlyMap<string, WecomClient>;
    crm: Crm;
    /** Follower events on their way from the callback path to the CRM (drained by workers). */
    crmInbound: InboundQueue;
    /** Message templates (templates/messages) and service notices sent with them. */
    templates: Map<string, MessageTemplate>;
    notices: ServiceNotices;
    risk: RiskEngine;
    reservations: ReservationDeps;
    redEnvelopes: RedEnvelopeDeps;
    /** The CRM profile of a follower, if the CRM knows them yet. */
    profileOf(account: string, openid: string): Promise<string | undefined>;
  };

/** Replacements for tests and tools (e.g. a recording customer-service sender). */
export interface ServiceOverrides {
  customerService?: (infra: Infra) => CustomerServiceSender;
}

export async function createServices(infra: Infra, overrides: ServiceOverrides = {}): Promise<AppDeps> {
  const { config, logger, metrics, redis } = infra;
  const wechatClients = createWechatClients(config.wechat.accounts, config.wechat.defaultAccount, {
    redis,
    logger,
    metrics,
    settings: config.wechat.api,
  });
  const failedDeliveries = metrics.counter('domain_event_failures_total', 'Failed event deliveries', ['event']);
  const events = createEventBus({ logger, onError: (event) => failedDeliveries.inc({ event }) });
  // Replies that miss the 5-second window go out as customer-service messages through the account's client.
  const customerService =
    overrides.customerService?.(infra) ??
    createClientCustomerServiceSender((account) => wechatClients(account), logger);
  const gateway = createGatewayServices(infra, events, customerService);
  const pay = config.pay ? createPayClient({ config: config.pay, logger, metrics }) : undefined;
  const wecom = new Map(
    config.wecom.corps.map((corp) => [corp.key, createWecomClient({ config: corp, redis, logger, metrics })] as const),
  );

  const crm = createCrm({
    config,
    logger,
    redis,
    // Enrichment (user/info/batchget) and WeChat user tags go through the account's client, from jobs only.
    followerInfo: {
      async batchGet(account, openids) {
        const users = await wechatClients(account).batchGetUsers(openids);
        return users.map((u) => ({
          openid: u.openid,
          subscribed: u.subscribed,
          ...(u.unionid ? { unionid: u.unionid } : {}),
          ...(u.subscribedAt ? { subscribeTime: u.subscribedAt } : {}),
          ...(u.subscribeScene ? { subscribeScene: u.subscribeScene } : {}),
          ...(u.qrSceneStr || u.qrScene ? { qrScene: u.qrSceneStr ?? String(u.qrScene) } : {}),
          tagIds: u.tagIds,
        }));
      },
    },
    wechatTags: {
      createTag: async (account, name) => (await wechatClients(account).createTag(name)).id,
      tagUsers: (account, tagId, openids) => wechatClients(account).tagUsers(tagId, openids),
      untagUsers: (account, tagId, openids) => wechatClients(account).untagUsers(tagId, openids),
    },
    schedule: async (job, data) => {
      await infra.agenda.now(job, data);
    },
  });
  // Every follower's message or event reaches their profile: queued in Redis after WeChat got its answer,
  // recorded by workers in batches, so the callback path never waits on the CRM's database work.
  const crmInbound = createInboundQueue({ redis, logger, metrics, record: (e) => crm.followers.record(e) });
  events.subscribe(WECHAT_INBOUND, async (event) => {
    await crmInbound.enqueue(followerEventOf(event));
  });

  const profileOf = async (account: string, openid: string) =>
    (await crm.identities.find(crm.identities.of.openid(account, openid)))?.toHexString();

  const templates = loadMessageTemplates();
  const notices = createServiceNotices({
    templates,
    sender: createClientTemplateSender((account) => wechatClients(account)),
    defaultAccount: config.wechat.defaultAccount,
    logger,
    marketingAllowed: (profileId) => crm.consent.isMarketingAllowed({ profileId }, 'wechat'),
  });
  const eligibility = createEligibility({
    validVerifications: async (profileId) =>
      (await crm.profiles.verifications(profileId)).filter((v) => v.valid).map((v) => v.kind),
  });
  const shanghai = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai',
    dateStyle: 'short',
    timeStyle: 'short',
  });
  const reservations = createReservationDeps(infra, {
    eligibility,
    notifier: {
      async notify(n) {
        const kind = {
          issued: 'reservation_issued',
          reminder: 'reservation_reminder',
          redeemed: 'reservation_redeemed',
        }[n.kind];
        const result = await notices.notify({
          profileId: n.profileId,
          kind,
          vars: {
            programName: n.programName,
            code: n.code,
            expiresAt: shanghai.format(n.expiresAt),
            redeemedAt: shanghai.format(new Date()),
          },
          idempotencyKey: n.noticeId,
        });
        if (!result.sent) logger.info({ noticeId: n.noticeId, reason: result.reason }, 'reservation notice not sent');
      },
    },
  });
  const risk = createRiskEngine(redis);
  const redEnvelopes = createRedEnvelopeDeps({
    redis,
    logger,
    metrics,
    agenda: infra.agenda,
    risk,
    eligibility,
    pay,
    notifier: {
      // A customer-service message while the follower's window is open, else the payout template.
      async notify(n) {
        const text = claimNoticeText(n.kind, n.amountFen, n.reason);
        try {
          await wechatClients(n.account).sendCustomMessage(n.openid, { msgtype: 'text', text: { content: text } });
        } catch (err) {
          if (!isPlatformError(err) || err.disposition !== 'give_up') throw err;
          await notices.notify({
            profileId: n.profileId,
            kind: 'payout_status',
            vars: {
              amountYuan: (n.amountFen / 100).toFixed(2),
              status: { paid: '已到账', confirm_needed: '待确认收款', failed: '发放失败' }[n.kind],
            },
            idempotencyKey: `${n.claimId}${n.kind}`,
          });
        }
      },
    },
  });
  registerReservationHandlers(gateway.wechatHandlers, reservations, profileOf);
  registerRedEnvelopeHandlers(gateway.wechatHandlers, redEnvelopes, profileOf);

  return {
    ...infra,
    ...createStaffDomain(infra),
    wechatClients,
    events,
    ...gateway,
    pay,
    wecom,
    crm,
    crmInbound,
    templates,
    notices,
    risk,
    reservations,
    redEnvelopes,
    profileOf,
  };
}
