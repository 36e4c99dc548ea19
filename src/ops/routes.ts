/**
 * Operations endpoints: liveness, readiness (each dependency checked, the failing part named), metrics.
 */
import Router from '@koa/router';
import type { Metrics } from '../infra/metrics.js';

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export function opsRoutes(deps: { metrics: Metrics; readiness: ReadinessCheck[] }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const results = await Promise.all(
      deps.readiness.map(async (r) => {
        try {
          await r.check();
          return { name: r.name, ok: true as const };
        } catch (err) {
          return { name: r.name, ok: false as const, error: err instanceof Error ? err.message : 'failed' };
        }
      }),
    );
    const failing = results.filter((r) => !r.ok);
    ctx.status = failing.length === 0 ? 200 : 503;
    ctx.body = {
      status: failing.length === 0 ? 'ready' : 'not_ready',
      failing: failing.map((f) => f.name),
      checks: Object.fromEntries(results.map((r) => [r.name, r.ok ? 'ok' : r.error])),
    };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  return router;
}
