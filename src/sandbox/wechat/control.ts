/**
 * The official account's control API (under /_control/wechat), for tests, the demo and staff rehearsals:
 * accounts and their callback URL, templates, token revocation, quotas, call counts, followers and their
 * inboxes, and actions a follower takes (which become signed, encrypted pushes to our callback).
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { z } from 'zod';
import { SandboxUsageError } from './followers.js';
import type { WechatSandboxApi } from './index.js';

const AccountInput = z
  .object({
    key: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
    appid: z.string().min(3),
    secret: z.string().min(1),
    token: z.string().min(1),
    encodingAESKey: z
      .string()
      .regex(/^[A-Za-z0-9]{43}$/)
      .optional(),
    originalId: z.string().optional(),
    mode: z.enum(['plain', 'compatible', 'safe']).optional(),
    callbackUrl: z.string().url().optional(),
  })
  .strict();

const Action = z.discriminatedUnion('action', [
  z.object({ action: z.literal('subscribe'), scene: z.string().optional(), ticket: z.string().optional() }).strict(),
  z.object({ action: z.literal('unsubscribe') }).strict(),
  z.object({ action: z.literal('text'), content: z.string().min(1) }).strict(),
  z.object({ action: z.literal('image'), mediaId: z.string().optional() }).strict(),
  z.object({ action: z.literal('click'), key: z.string().min(1) }).strict(),
  z.object({ action: z.literal('view'), url: z.string().min(1) }).strict(),
  z.object({ action: z.literal('scan'), ticket: z.string().min(1) }).strict(),
  z
    .object({
      action: z.literal('location'),
      latitude: z.number(),
      longitude: z.number(),
      precision: z.number().optional(),
    })
    .strict(),
  z.object({ action: z.literal('block_templates'), block: z.boolean() }).strict(),
]);

const Settings = z
  .object({
    callbackTimeoutMs: z.number().int().positive().optional(),
    callbackRetries: z.number().int().min(0).max(10).optional(),
    templateFinishDelayMs: z.number().int().min(0).optional(),
    massFinishDelayMs: z.number().int().optional(),
    followerPageSize: z.number().int().positive().max(10_000).optional(),
  })
  .strict();

function parse<T>(ctx: Context, schema: z.ZodType<T>): T | undefined {
  const result = schema.safeParse(ctx.request.body);
  if (result.success) return result.data;
  ctx.status = 400;
  ctx.body = { error: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  return undefined;
}

export function wechatControlRoutes(api: WechatSandboxApi): Router {
  const router = new Router({ prefix: '/wechat' });
  router.use(bodyParser({ enableTypes: ['json'] }));
  // Unknown accounts and impossible follower actions are the caller's mistake: 404 / 409 with the reason.
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof SandboxUsageError) {
        ctx.status = 409;
        ctx.body = { error: err.message };
      } else if (err instanceof Error && /plays no official account/.test(err.message)) {
        ctx.status = 404;
        ctx.body = { error: err.message };
      } else throw err;
    }
  });

  router.get('/settings', (ctx) => {
    ctx.body = api.settings;
  });
  router.put('/settings', (ctx) => {
    const input = parse(ctx, Settings);
    if (!input) return;
    Object.assign(api.settings, input);
    ctx.body = api.settings;
  });

  router.get('/accounts', (ctx) => {
    // Secrets stay out: staff see which accounts are played and where they push.
    ctx.body = {
      accounts: api.accounts().map((a) => ({
        key: a.key,
        appid: a.appid,
        originalId: a.originalId,
        mode: a.mode,
        callbackUrl: a.callbackUrl,
      })),
    };
  });
  router.post('/accounts', (ctx) => {
    const input = parse(ctx, AccountInput);
    if (!input) return;
    const account = api.addAccount(input);
    ctx.body = { key: account.key, appid: account.appid, originalId: account.originalId, mode: account.mode };
  });
  router.put('/accounts/:key/callback-url', (ctx) => {
    const input = parse(ctx, z.object({ url: z.string().url() }).strict());
    if (!input) return;
    api.setCallbackUrl(ctx.params.key!, input.url);
    ctx.status = 204;
  });
  router.post('/accounts/:key/templates', (ctx) => {
    const input = parse(
      ctx,
      z
        .object({ templateId: z.string().optional(), title: z.string().min(1), keywords: z.array(z.string()).min(1) })
        .strict(),
    );
    if (!input) return;
    ctx.body = api.addTemplate(ctx.params.key!, input);
  });
  router.post('/accounts/:key/revoke-tokens', (ctx) => {
    ctx.body = { revoked: api.revokeTokens(ctx.params.key!) };
  });
  router.put('/accounts/:key/quota', (ctx) => {
    const input = parse(ctx, z.object({ path: z.string().min(1), limit: z.number().int().min(0) }).strict());
    if (!input) return;
    api.setQuota(ctx.params.key!, input.path, input.limit);
    ctx.status = 204;
  });
  router.get('/accounts/:key/calls', (ctx) => {
    ctx.body = { calls: api.calls(ctx.params.key!) };
  });
  router.get('/accounts/:key/pushes', (ctx) => {
    ctx.body = { pushes: api.platformPushes(ctx.params.key) };
  });
  router.get('/accounts/:key/followers', (ctx) => {
    ctx.body = { followers: api.followers(ctx.params.key!) };
  });
  router.get('/accounts/:key/followers/:openid', (ctx) => {
    ctx.body = api.follower(ctx.params.key!, ctx.params.openid).snapshot();
  });
  router.get('/accounts/:key/followers/:openid/inbox', (ctx) => {
    const since = Number(ctx.query.since ?? 0);
    ctx.body = { inbox: api.inbox(ctx.params.key!, ctx.params.openid!).filter((m) => m.seq > since) };
  });
  router.post('/accounts/:key/followers/:openid/oauth-code', (ctx) => {
    const input = parse(ctx, z.object({ scope: z.enum(['snsapi_base', 'snsapi_userinfo']).optional() }).strict());
    if (!input) return;
    ctx.body = { code: api.oauthCode(ctx.params.key!, ctx.params.openid!, input.scope) };
  });
  router.post('/accounts/:key/followers/:openid/actions', async (ctx) => {
    const input = parse(ctx, Action);
    if (!input) return;
    const f = api.follower(ctx.params.key!, ctx.params.openid);
    switch (input.action) {
      case 'subscribe':
        ctx.body = await f.subscribe({ scene: input.scene, ticket: input.ticket });
        return;
      case 'unsubscribe':
        ctx.body = await f.unsubscribe();
        return;
      case 'text':
        ctx.body = await f.send(input.content);
        return;
      case 'image':
        ctx.body = await f.sendImage(input.mediaId);
        return;
      case 'click':
        ctx.body = await f.click(input.key);
        return;
      case 'view':
        ctx.body = await f.view(input.url);
        return;
      case 'scan':
        ctx.body = await f.scan(input.ticket);
        return;
      case 'location':
        ctx.body = await f.location(input);
        return;
      case 'block_templates':
        f.blockTemplates(input.block);
        ctx.body = f.snapshot();
        return;
    }
  });
  return router;
}
