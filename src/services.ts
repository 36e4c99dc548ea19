/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import { createEligibility } from './audiences/eligibility.js';
import { createConversation, type Conversation } from './conversation/index.js';
import { membersOf } from './audiences/service.js';
import { createPushService, onPushInbound, type PushService } from './push/index.js';
import { createRedEnvelopeDeps, claimNoticeText, registerRedEnvelopeHandlers } from './campaigns/redenvelope/wiring.js';
import type { ReferralDeps } from './campaigns/referral/service.js';
import { createReferralDeps, registerReferralHandlers, subscribeReferralEvents } from './campaigns/referral/wiring.js';
import { claimsOf, type RedEnvelopeDeps } from './campaigns/redenvelope/service.js';
import { followerEventOf } from './crm/bridge.js';
import { createCrm, profileFamily, type Crm } from './crm/index.js';
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
import { createRecordingSmsSender, createUnconfiguredSmsSender, type SmsSender } from './platform/sms/index.js';
import { createWechatClients, type WechatClients } from './platform/wechat/index.js';
import { createWecomClient, type WecomClient } from './platform/wecom/index.js';
import { isPlatformError } from './platform/kernel/errors.js';
import { createServiceNotices, createClientTemplateSender, type ServiceNotices } from './push/notices.js';
import { loadMessageTemplates, type MessageTemplate } from './push/templates.js';
import { registerReservationActions, registerReservationHandlers } from './reservations/handlers.js';
import { codesOfOwner, createReservationDeps, type ReservationDeps } from './reservations/index.js';
import { createRehearsalGate } from './rehearsal/service.js';
import { createReach, guardCustomerService, type ReachLedger } from './reach/index.js';
import { createRiskEngine, type RiskEngine } from './risk/engine.js';
import { createStaffDomain, type StaffDomain } from './staff/index.js';
import {
  createGroupSend,
  createWecomDomain,
  findGroupSend,
  groupSendTargets,
  refreshGroupSend,
  type WecomDeps,
  type WecomDomain,
} from './wecom/index.js';
import type { StaffGroupSender } from './push/index.js';

/**
 * Staff domain: `staff` (auth, accounts), `approvals` (four-eyes), `audit` (append-only log); the gateway
 * (`wechatHandlers`, `gateway`, …); platform clients; the CRM.
 */
export type AppDeps = Infra &
  StaffDomain &
  GatewayServices &
  WecomDomain & {
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
    referrals: ReferralDeps;
    /** Keyword rules, menus, welcome, hand-off; `conversation.actions.register(name, handler)` adds actions. */
    conversation: Conversation;
    /** The reach ledger: WeChat's per-follower quotas and our caps, asked before every send. */
    reach: ReachLedger;
    /** The CRM profile of a follower, if the CRM knows them yet. */
    profileOf(account: string, openid: string): Promise<string | undefined>;
    /** Tiered pushes: plans, delivery, tracking, reports. */
    push: PushService;
    /** Text messages to phones (verification codes): a recording outbox outside production until a vendor is wired. */
    sms: SmsSender;
  };

/** Replacements for tests and tools (e.g. a recording customer-service sender). */
export interface ServiceOverrides {
  customerService?: (infra: Infra) => CustomerServiceSender;
  /** The reach ledger's clock (tests follow the sandbox's clock so windows close at WeChat's time). */
  reachClock?: () => Date;
  /** Where verification codes go (tests read a recording outbox). */
  sms?: SmsSender;
  /** The conversation's clock: service hours, active windows (tests pin a weekday and an hour). */
  conversationClock?: () => Date;
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
  // Fed by the gateway's wechat.inbound events (windows, follows, one-time consents); asked by every sender.
  const reach = createReach({ redis, logger, events, ...(overrides.reachClock ? { now: overrides.reachClock } : {}) });
  // Replies that miss the 5-second window go out as customer-service messages through the account's client,
  // only while the follower's window allows one (the ledger spends it first).
  const customerService = guardCustomerService(
    overrides.customerService?.(infra) ??
      createClientCustomerServiceSender((account) => wechatClients(account), logger),
    reach,
    logger,
    'reply',
    () => events.idle(),
  );
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
    onTierChanged: (change) => events.publish('crm.tier-changed', change),
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
    family: profileFamily,
    reach,
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
        // Transactional: bypasses our marketing caps and quiet hours, never WeChat's window. The ledger says
        // whether the window allows a customer-service message; if not, the template goes without an attempt.
        const cs = {
          account: n.account,
          openid: n.openid,
          profileId: n.profileId,
          channel: 'customer_service' as const,
          class: 'transactional' as const,
          key: `${n.claimId}${n.kind}:cs`,
        };
        const decision = await reach.reserve(cs);
        logger.debug(
          { claimId: n.claimId, kind: n.kind, verdict: decision.verdict, reason: decision.reason },
          'payout notice channel',
        );
        if (decision.verdict === 'allow') {
          try {
            await wechatClients(n.account).sendCustomMessage(n.openid, { msgtype: 'text', text: { content: text } });
            return;
          } catch (err) {
            logger.debug({ claimId: n.claimId, err }, 'payout notice customer-service send refused');
            if (!isPlatformError(err) || err.disposition !== 'give_up') throw err;
            await reach.release(cs, decision);
          }
        }
        const result = await notices.notify({
          profileId: n.profileId,
          kind: 'payout_status',
          vars: {
            amountYuan: (n.amountFen / 100).toFixed(2),
            status: { paid: '已到账', confirm_needed: '待确认收款', failed: '发放失败' }[n.kind],
          },
          idempotencyKey: `${n.claimId}${n.kind}`,
          // Where the customer claimed: a merged profile may also follow other accounts.
          to: { account: n.account, openid: n.openid },
        });
        // Not sent is not told: the claim's notice is tried again rather than counted as delivered.
        if (!result.sent) throw new Error(`payout notice not sent: ${result.reason}`);
      },
    },
  });
  const wecomDomain = createWecomDomain(infra, {
    events,
    crm,
    clients: wecom,
    // The staff sidebar shows what the customer is waiting for: unpaid envelopes and their codes (masked).
    customerExtras: async (profileId) => {
      const [claims, codes] = await Promise.all([
        claimsOf(profileId),
        codesOfOwner(reservations, profileId, { reveal: false }),
      ]);
      return {
        openClaims: claims
          .filter((c) => c.state !== 'success' && c.state !== 'failed')
          .map((c) => ({ campaignName: c.campaignName, amountFen: c.amountFen, state: c.state, wonAt: c.wonAt })),
        reservationCodes: codes.map((c) => ({
          programName: c.programName,
          masked: c.masked,
          status: c.status,
          expiresAt: c.expiresAt,
        })),
      };
    },
  });
  // Big campaigns are approved only after a passing rehearsal (src/rehearsal).
  redEnvelopes.approvalGate = createRehearsalGate(config.rehearsal.requiredAboveFen);
  const staffDomain = createStaffDomain(infra);
  const push = createPushService({
    config: config.push,
    publicBaseUrl: config.publicBaseUrl,
    redis,
    logger,
    agenda: infra.agenda,
    approvals: staffDomain.approvals,
    sender: createClientTemplateSender((account) => wechatClients(account)),
    templates,
    members: (audienceId) => membersOf({}, audienceId),
    storage: infra.mongo,
    // Plans on the WeCom channel reach customers through their owners' group-send tasks (src/wecom).
    ...(config.wecom.corps.length > 0 ? { staff: staffGroupSender(wecomDomain.wecomDomain) } : {}),
    // Plans on the customer-service channel go only where the reach ledger says a window is open.
    customerService: {
      ledger: reach,
      send: ({ account, openid, text }) =>
        wechatClients(account).sendCustomMessage(openid, { msgtype: 'text', text: { content: text } }),
    },
  });
  events.subscribe(WECHAT_INBOUND, (event) => onPushInbound(push, event));
  registerReservationHandlers(gateway.wechatHandlers, reservations, profileOf);
  registerRedEnvelopeHandlers(gateway.wechatHandlers, redEnvelopes, profileOf);
  const referrals = createReferralDeps({
    redis,
    logger,
    metrics,
    risk,
    eligibility,
    wechatClients,
    crm,
    redEnvelopes,
    reservations,
    settings: config.referral,
    customerService,
  });
  registerReferralHandlers(gateway.wechatHandlers, referrals, profileOf, events);
  subscribeReferralEvents(events, referrals);
  const sms =
    overrides.sms ?? (config.env === 'production' ? createUnconfiguredSmsSender() : createRecordingSmsSender());
  // After the domains' own text handlers, so their keywords keep working; the default reply runs via onAny.
  const conversation = await createConversation({
    redis,
    logger,
    crm,
    wechatClients,
    customerService,
    accounts: config.wechat.accounts.map((a) => a.key),
    profileOf,
    sms,
    ...(overrides.conversationClock ? { now: overrides.conversationClock } : {}),
  });
  conversation.registerHandlers(gateway.wechatHandlers);
  registerReservationActions(conversation.actions, reservations);
  events.subscribe('crm.tier-changed', (change) => conversation.menus.syncTier(change));

  return {
    ...infra,
    ...staffDomain,
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
    referrals,
    conversation,
    reach,
    profileOf,
    ...wecomDomain,
    push,
    sms,
  };
}

/** The push domain's WeCom channel over the WeCom domain's group sends (the two domains meet only here). */
function staffGroupSender(deps: WecomDeps): StaffGroupSender {
  const corpKey = (corp?: string) => corp ?? deps.config.defaultCorp;
  return {
    async send(input) {
      await createGroupSend(
        deps,
        corpKey(input.corp),
        { key: input.key, name: input.name, profileIds: input.profileIds, text: input.text },
        input.by,
        { capsFor: (profileId) => input.capsFor(profileId) },
      );
    },
    async refresh({ corp, key }) {
      const sendId = await findGroupSend(corpKey(corp), key);
      if (sendId) await refreshGroupSend(deps, corpKey(corp), sendId);
    },
    async targets({ corp, key }) {
      const sendId = await findGroupSend(corpKey(corp), key);
      return sendId ? groupSendTargets(sendId) : [];
    },
  };
}
