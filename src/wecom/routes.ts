/**
 * WeCom routes. The callback (`GET/POST /wecom/:corp/callback`, `/wecom/callback` for the default corp) is
 * thin like the gateway's: resolve the corp, read a bounded body (the gateway's reader), hand both to the
 * pipeline. The admin API (channels, welcomes, reports, staff links, hand-over, tags, sync) is declared.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { readBody } from '../gateway/index.js';
import { DomainError, isDomainError } from '../infra/errors.js';
import { parse } from '../infra/http/parse.js';
import type { Metrics } from '../infra/metrics.js';
import { adminRoute, type AdminRoute } from '../staff/index.js';
import { sidebarCustomer, startSidebarSession } from './sidebar.js';
import { wecomSidebarPageRoutes, type SidebarPageDeps } from './sidebar-page.js';
import type { WecomCallback } from './callback.js';
import { ChannelInput, channelReport, createChannel, listChannels } from './channels.js';
import { corpOf, type WecomDeps } from './deps.js';
import { createGroupSend, groupSendFunnel, GroupSendInput, refreshGroupSend, TARGET_STATES } from './groupsend.js';
import { syncGroups, WecomGroup } from './groups.js';
import { handOver, linkStaff, lossReport, reviewCandidates } from './staff.js';
import { linkCrmTag, pushProfileTags } from './tags.js';
import { runContactSync } from './sync.js';
import { setWelcome, WelcomeInput } from './welcome.js';

export interface WecomRouteDeps {
  wecomDomain: WecomDeps;
  wecomCallback: WecomCallback;
  metrics: Metrics;
  bodyLimitBytes: number;
}

export function wecomCallbackRoutes(deps: WecomRouteDeps): Router {
  const router = new Router();
  const rejected = deps.metrics.counter('wecom_callback_rejections_total', 'Refused WeCom callbacks', ['code']);

  function requestOf(ctx: Context, receivedAt: number) {
    const key = (ctx.params as { corp?: string }).corp;
    return {
      corp: corpOf(deps.wecomDomain, key),
      query: ctx.query,
      requestId: ctx.state.requestId,
      log: ctx.state.log,
      receivedAt,
    };
  }

  async function guarded(ctx: Context, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (isDomainError(err)) {
        rejected.inc({ code: err.code });
        ctx.state.log.warn({ code: err.code, path: ctx.path, method: ctx.method }, 'wecom callback refused');
      }
      throw err;
    }
  }

  const verify = (ctx: Context) =>
    guarded(ctx, async () => {
      const answer = deps.wecomCallback.verifyUrl(requestOf(ctx, Date.now()));
      ctx.status = 200;
      ctx.type = 'text/plain';
      ctx.body = answer;
    });
  const receive = (ctx: Context) =>
    guarded(ctx, async () => {
      const request = requestOf(ctx, Date.now());
      const body = await readBody(ctx, deps.bodyLimitBytes);
      const answer = await deps.wecomCallback.receive(request, body);
      ctx.status = 200;
      ctx.type = 'text/plain';
      ctx.body = answer;
    });

  router.get('/wecom/callback', verify);
  router.post('/wecom/callback', receive);
  router.get('/wecom/:corp/callback', verify);
  router.post('/wecom/:corp/callback', receive);
  return router;
}

/**
 * The staff sidebar: the HTML page `GET /wecom/sidebar/page` (sidebar-page.ts), and its JSON API for a
 * richer client: `GET /wecom/sidebar/session?code=` trades the OAuth code for a token;
 * `GET /wecom/sidebar/customers/:externalUserId` with `Authorization: Bearer <token>` reads the customer
 * card within the linked staff account's scope.
 */
export function wecomSidebarRoutes(deps: SidebarPageDeps): Router {
  const router = new Router();
  const SessionQuery = z
    .object({ code: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/), corp: z.string().max(32).optional() })
    .strict();
  const CustomerParams = z.object({ externalUserId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict();
  router.get('/wecom/sidebar/session', async (ctx) => {
    const q = parse(SessionQuery, ctx.query);
    ctx.body = await startSidebarSession(deps.wecomDomain, corpOf(deps.wecomDomain, q.corp).key, q.code);
  });
  router.get('/wecom/sidebar/customers/:externalUserId', async (ctx) => {
    const p = parse(CustomerParams, ctx.params);
    const token = /^Bearer ([A-Za-z0-9_-]{16,64})$/.exec(ctx.get('authorization'))?.[1];
    if (!token) throw new DomainError('unauthenticated', 'missing_token', 'A sidebar session token is required.');
    ctx.body = await sidebarCustomer(deps.wecomDomain, {
      token,
      externalUserId: p.externalUserId,
      scopeOf: deps.scopeOf,
    });
  });
  router.use(wecomSidebarPageRoutes(deps).routes());
  return router;
}

const CorpQuery = z.object({ corp: z.string().max(32).optional() }).strict();
const ReportQuery = z
  .object({
    corp: z.string().max(32).optional(),
    from: z.iso.datetime().optional(),
    to: z.iso.datetime().optional(),
  })
  .strict();
const ChannelView = z.object({
  id: z.string(),
  name: z.string(),
  state: z.string(),
  kind: z.string(),
  users: z.array(z.string()),
  configId: z.string().optional(),
  qrCode: z.string().optional(),
  createdAt: z.string(),
});
const Counts = { adds: z.number(), deletions: z.number(), net: z.number() };
const ReportView = z.object({
  channels: z.array(
    z.object({
      state: z.string(),
      name: z.string(),
      ...Counts,
      byStaff: z.array(z.object({ userid: z.string(), ...Counts })),
    }),
  ),
});

const FunnelView = z.object({
  sendId: z.string(),
  name: z.string(),
  tasks: z.number(),
  pendingTasks: z.number(),
  reviewTasks: z.number(),
  ...Object.fromEntries(TARGET_STATES.map((s) => [s, z.number()])),
});
const SendParams = z.object({ id: z.uuid() }).strict();

/** The WeCom admin API (below /admin/api/wecom). */
export function wecomAdminRoutes(deps: WecomDeps): AdminRoute[] {
  const corpKey = (q: { corp?: string }) => corpOf(deps, q.corp).key;
  return [
    adminRoute(
      {
        method: 'post',
        path: '/wecom/channels',
        permission: 'campaign:manage',
        tags: ['wecom'],
        summary: 'Create a channel QR code (contact way with a state) rotating across members',
        query: CorpQuery,
        body: ChannelInput,
        response: ChannelView,
        status: 201,
        audit: { action: 'wecom.channel.create', targetType: 'wecom_channel' },
      },
      async (call) => {
        const channel = await createChannel(deps, corpKey(call.query), call.body, call.principal.staffId);
        call.audit.targetId = channel.id;
        return channel;
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/wecom/channels',
        permission: 'report:read',
        tags: ['wecom'],
        summary: 'List channel codes',
        query: CorpQuery,
        response: z.object({ channels: z.array(ChannelView) }),
      },
      async (call) => ({ channels: await listChannels(corpKey(call.query)) }),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/wecom/reports/channels',
        permission: 'report:read',
        tags: ['wecom'],
        summary: 'Adds, deletions and net per channel and per member',
        query: ReportQuery,
        response: ReportView,
      },
      async (call) =>
        channelReport(corpKey(call.query), {
          ...(call.query.from ? { from: new Date(call.query.from) } : {}),
          ...(call.query.to ? { to: new Date(call.query.to) } : {}),
        }),
    ),
    adminRoute(
      {
        method: 'put',
        path: '/wecom/welcomes',
        permission: 'conversation:manage',
        tags: ['wecom'],
        summary: 'Set the welcome message of a channel and/or member ({name}, {staff} are filled in)',
        query: CorpQuery,
        body: WelcomeInput,
        audit: { action: 'wecom.welcome.set', targetType: 'wecom_welcome' },
      },
      async (call) => {
        await setWelcome(deps, corpKey(call.query), call.body);
      },
    ),
    adminRoute(
      {
        method: 'put',
        path: '/wecom/staff-links',
        permission: 'staff:manage',
        tags: ['wecom'],
        summary: "Link a WeCom member to a staff account (the owner of the member's customers)",
        query: CorpQuery,
        body: z.object({ userid: z.string().min(1).max(64), staffId: z.string().min(1).max(64) }).strict(),
        audit: { action: 'wecom.staff.link', targetType: 'staff' },
      },
      async (call) => {
        call.audit.targetId = call.body.staffId;
        await linkStaff(corpKey(call.query), call.body);
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/hand-over',
        permission: 'staff:manage',
        tags: ['wecom'],
        summary: "Hand a leaving member's customers to another member (WeCom transfer); profiles follow",
        query: CorpQuery,
        body: z
          .object({
            from: z.string().min(1).max(64),
            to: z.string().min(1).max(64),
            resigned: z.boolean().default(true),
          })
          .strict(),
        response: z.object({ transferred: z.number(), failed: z.number(), profilesMoved: z.number() }),
        audit: { action: 'wecom.hand-over', targetType: 'wecom_member' },
      },
      async (call) => {
        call.audit.targetId = call.body.from;
        return handOver(deps, corpKey(call.query), { ...call.body, by: call.principal.staffId });
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/wecom/reports/losses',
        permission: 'report:read',
        tags: ['wecom'],
        summary: 'Customers who deleted their adviser (loss alerts), newest first',
        query: ReportQuery,
        response: z.object({
          losses: z.array(
            z.object({
              externalUserId: z.string(),
              userid: z.string(),
              profileId: z.string().optional(),
              state: z.string().optional(),
              lostAt: z.string(),
            }),
          ),
        }),
      },
      async (call) => ({
        losses: await lossReport(corpKey(call.query), call.query.from ? new Date(call.query.from) : undefined),
      }),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/wecom/review-candidates',
        permission: 'customer:merge',
        tags: ['wecom'],
        summary: 'WeCom contacts without a unionid: check them against existing profiles by hand',
        query: CorpQuery,
        response: z.object({
          contacts: z.array(
            z.object({ externalUserId: z.string(), name: z.string(), profileId: z.string().optional() }),
          ),
        }),
      },
      async (call) => ({ contacts: await reviewCandidates(corpKey(call.query)) }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/tag-links',
        permission: 'tag:manage',
        tags: ['wecom'],
        summary: 'Mirror a CRM tag to a WeCom corp tag (created in group SCRM when no id is given)',
        query: CorpQuery,
        body: z.object({ crmTagId: z.string().min(1).max(64), wecomTagId: z.string().max(64).optional() }).strict(),
        response: z.object({ wecomTagId: z.string() }),
        audit: { action: 'wecom.tag.link', targetType: 'tag' },
      },
      async (call) => {
        call.audit.targetId = call.body.crmTagId;
        return linkCrmTag(deps, corpKey(call.query), call.body);
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/profiles/:id/push-tags',
        permission: 'tag:manage',
        tags: ['wecom'],
        summary: "Mark the profile's linked CRM tags on its WeCom relationships",
        params: z.object({ id: z.string().regex(/^[0-9a-f]{24}$/) }).strict(),
        query: CorpQuery,
        response: z.object({ marked: z.number(), unmarked: z.number() }),
        audit: { action: 'wecom.tags.push', targetType: 'profile' },
      },
      async (call) => pushProfileTags(deps, corpKey(call.query), call.params.id),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/group-sends',
        permission: 'push:send',
        tags: ['wecom'],
        summary: 'Group-send to profiles through their WeCom owners, within the shared frequency cap',
        query: CorpQuery,
        body: GroupSendInput,
        response: FunnelView,
        status: 201,
        audit: { action: 'wecom.group-send.create', targetType: 'wecom_group_send' },
      },
      async (call) => {
        const funnel = await createGroupSend(deps, corpKey(call.query), call.body, call.principal.staffId);
        call.audit.targetId = funnel.sendId;
        return funnel;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/group-sends/:id/refresh',
        permission: 'push:send',
        tags: ['wecom'],
        summary: "Fetch the tasks' per-customer results from WeCom into the funnel",
        params: SendParams,
        query: CorpQuery,
        response: FunnelView,
        audit: { action: 'wecom.group-send.refresh', targetType: 'wecom_group_send' },
      },
      async (call) => refreshGroupSend(deps, corpKey(call.query), call.params.id),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/wecom/group-sends/:id',
        permission: 'report:read',
        tags: ['wecom'],
        summary: "A group send's funnel (queued, capped, no contact, failed, sent, not sent…)",
        params: SendParams,
        response: FunnelView,
      },
      async (call) => groupSendFunnel(call.params.id),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/groups/sync',
        permission: 'staff:manage',
        tags: ['wecom'],
        summary: 'Sync the customer group chats and their members now',
        query: CorpQuery,
        response: z.object({ groups: z.number(), members: z.number() }),
        audit: { action: 'wecom.groups.sync', targetType: 'wecom_corp' },
      },
      async (call) => syncGroups(deps, corpKey(call.query)),
    ),
    adminRoute(
      {
        method: 'get',
        path: '/wecom/groups',
        permission: 'report:read',
        tags: ['wecom'],
        summary: 'Customer group chats (as last synced)',
        query: CorpQuery,
        response: z.object({
          groups: z.array(z.object({ chatId: z.string(), name: z.string(), owner: z.string(), members: z.number() })),
        }),
      },
      async (call) => {
        const rows = await WecomGroup.find({ corp: corpKey(call.query) })
          .sort({ name: 1 })
          .limit(1000)
          .lean();
        return {
          groups: rows.map((g) => ({ chatId: g.chatId, name: g.name ?? '', owner: g.owner, members: g.members ?? 0 })),
        };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/wecom/sync',
        permission: 'staff:manage',
        tags: ['wecom'],
        summary: 'Run (or resume) the full contact sync now',
        query: CorpQuery,
        response: z.object({ runId: z.string(), finished: z.boolean(), pages: z.number(), contacts: z.number() }),
        status: 202,
        audit: { action: 'wecom.sync.run', targetType: 'wecom_corp' },
      },
      async (call) => runContactSync(deps, corpKey(call.query)),
    ),
  ];
}
