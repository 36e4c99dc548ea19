/**
 * First middleware: a request id (accepted from X-Request-Id when well-formed, else generated) on the
 * response and on every log line, an access log, latency metrics by route, and a count of requests in
 * flight so shutdown can wait for them.
 */
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export interface InFlight {
  count: number;
  /** Resolves when no request is in flight. */
  drained(): Promise<void>;
}

export function createInFlight(): InFlight & { enter(): void; leave(): void } {
  let waiters: Array<() => void> = [];
  const state = {
    count: 0,
    enter() {
      state.count += 1;
    },
    leave() {
      state.count -= 1;
      if (state.count === 0) {
        const w = waiters;
        waiters = [];
        for (const resolve of w) resolve();
      }
    },
    drained(): Promise<void> {
      if (state.count === 0) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
  return state;
}

export function requestContext(
  logger: Logger,
  metrics: Metrics,
  inFlight: ReturnType<typeof createInFlight>,
): Middleware {
  return async (ctx, next) => {
    const start = process.hrtime.bigint();
    const offered = ctx.get('x-request-id');
    const requestId = ACCEPTABLE_ID.test(offered) ? offered : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    inFlight.enter();
    try {
      await next();
    } finally {
      inFlight.leave();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
      const routeLabel = typeof route === 'string' ? route : 'unmatched';
      metrics.httpDuration.observe({ method: ctx.method, route: routeLabel, status: String(ctx.status) }, seconds);
      if (ctx.status >= 500)
        ctx.state.log.error(
          { method: ctx.method, route: routeLabel, status: ctx.status, ms: seconds * 1000 },
          'request',
        );
      else
        ctx.state.log.debug(
          { method: ctx.method, route: routeLabel, status: ctx.status, ms: seconds * 1000 },
          'request',
        );
    }
  };
}
