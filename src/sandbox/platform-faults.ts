/**
 * Fault injection for a sandbox part mounted under a prefix: rules name paths as the real platform does
 * (/v3/…, /cgi-bin/…), while Koa's ctx.path still carries the prefix (/pay/v3/…). The path is shown to the
 * shared fault middleware without the prefix, then restored.
 */
import type { Context, Middleware } from 'koa';
import type { FaultRule, Faults, SandboxPlatform } from './faults.js';

export function platformFaults(
  faults: Faults,
  platform: SandboxPlatform,
  prefix: string,
  answer: (ctx: Context, rule: FaultRule) => void,
): Middleware {
  const inner = faults.middleware(platform, answer);
  return async (ctx, next) => {
    const full = ctx.path;
    if (!full.startsWith(prefix)) {
      await next();
      return;
    }
    ctx.path = full.slice(prefix.length) || '/';
    let restored = false;
    try {
      await inner(ctx, async () => {
        ctx.path = full;
        restored = true;
        await next();
      });
    } finally {
      if (!restored) ctx.path = full;
    }
  };
}
