/**
 * The sandbox: a local simulator of WeChat's official-account API, WeChat Pay v3 and WeCom, on its own
 * port, with WeChat's side of the callback (signed, encrypted pushes to our server), inboxes per
 * follower, and fault injection. Used by tests, by the demo and by staff rehearsals.
 *   /wechat/...   official-account API (api.weixin.qq.com paths)
 *   /pay/...      WeChat Pay v3 (api.mch.weixin.qq.com paths)
 *   /wecom/...    WeCom (qyapi.weixin.qq.com paths)
 *   /_control/... faults, clock (the control API; never part of a real platform)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { createLogger, type Logger } from '../infra/logger.js';
import { createSandboxClock, type SandboxClock } from './clock.js';
import type { SandboxContext } from './context.js';
import { createFaults, FaultRuleSchema, type Faults } from './faults.js';
import { createPaySandbox, type PaySandboxApi } from './pay/index.js';
import { createWechatSandbox, type WechatSandboxApi } from './wechat/index.js';
import { createWecomSandbox, type WecomSandboxApi } from './wecom/index.js';

export interface SandboxOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /** The official accounts the sandbox plays, and its callback rules (tests shorten the 5-second wait). */
  wechat?: Parameters<typeof createWechatSandbox>[1];
}

export interface Sandbox {
  url: string;
  wechatBase: string;
  payBase: string;
  wecomBase: string;
  clock: SandboxClock;
  faults: Faults;
  wechat: WechatSandboxApi;
  pay: PaySandboxApi;
  wecom: WecomSandboxApi;
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const logger = options.logger ?? createLogger({ level: 'silent' });
  const clock = createSandboxClock();
  const faults = createFaults(clock);
  let baseUrl = '';
  const context: SandboxContext = { clock, faults, logger, baseUrl: () => baseUrl };

  const wechat = createWechatSandbox(context, options.wechat);
  const pay = await createPaySandbox(context);
  const wecom = createWecomSandbox(context);

  const app = new Koa();
  app.silent = true;
  const control = new Router({ prefix: '/_control' });
  control.use(bodyParser({ enableTypes: ['json'] }));
  control.get('/faults', (ctx) => {
    ctx.body = { faults: faults.list() };
  });
  control.post('/faults', (ctx) => {
    const parsed = FaultRuleSchema.safeParse(ctx.request.body);
    if (!parsed.success) {
      ctx.status = 400;
      ctx.body = { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
      return;
    }
    ctx.body = { id: faults.add(parsed.data) };
  });
  control.delete('/faults', (ctx) => {
    faults.clear();
    ctx.status = 204;
  });
  control.post('/clock/advance', (ctx) => {
    const ms = Number((ctx.request.body as { ms?: unknown } | undefined)?.ms);
    if (!Number.isFinite(ms) || ms < 0) {
      ctx.status = 400;
      ctx.body = { error: 'ms must be a non-negative number' };
      return;
    }
    clock.advance(ms);
    ctx.body = { now: clock.now() };
  });

  for (const part of [wechat, pay, wecom])
    if (part.control) control.use(part.control.routes(), part.control.allowedMethods());
  app.use(control.routes()).use(control.allowedMethods());
  for (const part of [wechat, pay, wecom]) {
    const mount = new Router({ prefix: part.prefix });
    mount.use(part.router.routes(), part.router.allowedMethods());
    app.use(mount.routes()).use(mount.allowedMethods());
  }

  const server: Server = createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;
  logger.info({ port }, 'sandbox listening');

  return {
    url: baseUrl,
    wechatBase: `${baseUrl}${wechat.prefix}`,
    payBase: `${baseUrl}${pay.prefix}`,
    wecomBase: `${baseUrl}${wecom.prefix}`,
    clock,
    faults,
    wechat: wechat.api,
    pay: pay.api,
    wecom: wecom.api,
    async close() {
      for (const part of [wechat, pay, wecom]) await part.close?.();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
