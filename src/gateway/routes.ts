/**
 * GET/POST /wechat/:account/callback, and /wechat/callback for the default account. Thin: resolve the
 * account, read a bounded body, hand both to the pipeline, send its answer. Every refusal is logged
 * with the request id and answered 4xx with a code (the error handler shapes the body).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { DomainError, isDomainError } from '../infra/errors.js';
import { findAccount, type AppConfig, type WechatAccountConfig } from '../infra/config.js';
import type { Metrics } from '../infra/metrics.js';
import type { CallbackAnswer, CallbackGateway, CallbackRequest } from './pipeline.js';

export interface GatewayRouteDeps {
  config: AppConfig;
  metrics: Metrics;
  gateway: CallbackGateway;
}

/** Reads the raw body as UTF-8, refusing more than `limit` bytes (by header first, then by count). */
export async function readBody(ctx: Context, limit: number): Promise<string> {
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function tooLarge(limit: number): DomainError {
  return new DomainError('too_large', 'payload_too_large', `The body is larger than ${limit} bytes.`);
}

export function gatewayRoutes(deps: GatewayRouteDeps): Router {
  const router = new Router();
  const rejected = deps.metrics.counter('wechat_callback_rejections_total', 'Refused WeChat callbacks', ['code']);
  const limit = deps.config.callback.bodyLimitBytes;

  function accountOf(ctx: Context): WechatAccountConfig {
    const key = (ctx.params as { account?: string }).account ?? deps.config.wechat.defaultAccount;
    const account = findAccount(deps.config, key);
    if (!account) throw new DomainError('not_found', 'unknown_account', 'No such official account.');
    return account;
  }

  function requestOf(ctx: Context, account: WechatAccountConfig, receivedAt: number): CallbackRequest {
    return {
      account,
      query: ctx.query,
      requestId: ctx.state.requestId,
      log: ctx.state.log,
      receivedAt,
    };
  }

  function send(ctx: Context, answer: CallbackAnswer): void {
    ctx.status = 200;
    ctx.type = answer.contentType;
    ctx.body = answer.body;
  }

  async function guarded(ctx: Context, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (isDomainError(err)) {
        rejected.inc({ code: err.code });
        ctx.state.log.warn({ code: err.code, path: ctx.path, method: ctx.method }, 'wechat callback refused');
      }
      throw err;
    }
  }

  const verify = (ctx: Context) =>
    guarded(ctx, async () => {
      const account = accountOf(ctx);
      send(ctx, deps.gateway.verifyUrl(requestOf(ctx, account, Date.now())));
    });
  const receive = (ctx: Context) =>
    guarded(ctx, async () => {
      const receivedAt = Date.now();
      const account = accountOf(ctx);
      const body = await readBody(ctx, limit);
      send(ctx, await deps.gateway.receive(requestOf(ctx, account, receivedAt), body));
    });

  router.get('/wechat/callback', verify);
  router.post('/wechat/callback', receive);
  router.get('/wechat/:account/callback', verify);
  router.post('/wechat/:account/callback', receive);
  return router;
}
