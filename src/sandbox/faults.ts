/**
 * Fault injection, per platform and API path: error rates, forced error codes, latency, hangs (the
 * client times out) and down periods (connections reset). Set through the control API or directly
 * (`sandbox.faults.add(...)`) so tests and staff rehearsals can script outages.
 */
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { SandboxClock } from './clock.js';

export const SANDBOX_PLATFORMS = ['wechat', 'wechatpay', 'wecom'] as const;
export type SandboxPlatform = (typeof SANDBOX_PLATFORMS)[number];

export const FaultRuleSchema = z
  .object({
    platform: z.enum(SANDBOX_PLATFORMS),
    /** Exact API path below the platform prefix (e.g. /cgi-bin/message/custom/send), or a prefix ending in '*'. */
    path: z.string().min(1),
    /** Probability in [0,1] that a matching call fails; 1 = always. */
    rate: z.number().min(0).max(1).default(1),
    /** WeChat/WeCom errcode to answer (HTTP 200 with {errcode, errmsg}); for Pay, an error code string. */
    errcode: z.union([z.number().int(), z.string()]).optional(),
    errmsg: z.string().optional(),
    /** HTTP status for the failure (Pay errors and 5xx outages); default 200 for WeChat errcodes, 500 for Pay. */
    httpStatus: z.number().int().min(200).max(599).optional(),
    /** Extra latency before answering (applies to every matching call, failing or not). */
    latencyMs: z.number().int().min(0).max(60_000).default(0),
    /** Never answer: the client times out. */
    hang: z.boolean().default(false),
    /** Reset the connection (the platform is down). */
    reset: z.boolean().default(false),
    /** Stop applying after this many failures. */
    times: z.number().int().positive().optional(),
    /** Stop applying after this sandbox time (ms since epoch). */
    until: z.number().int().optional(),
  })
  .strict();
export type FaultRule = z.infer<typeof FaultRuleSchema>;
export type FaultRuleInput = z.input<typeof FaultRuleSchema>;

interface ActiveRule extends FaultRule {
  id: number;
  fired: number;
}

export interface FaultDecision {
  latencyMs: number;
  fail?: ActiveRule;
}

export interface Faults {
  add(rule: FaultRuleInput): number;
  remove(id: number): void;
  clear(platform?: SandboxPlatform): void;
  list(): ActiveRule[];
  /** Decides for one call; counts the failure when it fires. */
  decide(platform: SandboxPlatform, path: string): FaultDecision;
  /** Koa middleware applying the decision; `answer` writes the platform-specific failure body. */
  middleware(platform: SandboxPlatform, answer: (ctx: Context, rule: FaultRule) => void): Middleware;
}

export function createFaults(clock: SandboxClock, random: () => number = Math.random): Faults {
  let rules: ActiveRule[] = [];
  let nextId = 1;

  const matches = (rule: ActiveRule, platform: SandboxPlatform, path: string) =>
    rule.platform === platform &&
    (rule.path.endsWith('*') ? path.startsWith(rule.path.slice(0, -1)) : rule.path === path);
  const live = (rule: ActiveRule) =>
    (rule.times === undefined || rule.fired < rule.times) && (rule.until === undefined || clock.now() < rule.until);

  const faults: Faults = {
    add(input) {
      const rule = FaultRuleSchema.parse(input);
      const id = nextId++;
      rules.push({ ...rule, id, fired: 0 });
      return id;
    },
    remove(id) {
      rules = rules.filter((r) => r.id !== id);
    },
    clear(platform) {
      rules = platform ? rules.filter((r) => r.platform !== platform) : [];
    },
    list: () => rules.map((r) => ({ ...r })),
    decide(platform, path) {
      let latencyMs = 0;
      let fail: ActiveRule | undefined;
      for (const rule of rules) {
        if (!matches(rule, platform, path) || !live(rule)) continue;
        latencyMs = Math.max(latencyMs, rule.latencyMs);
        const failing = rule.hang || rule.reset || rule.errcode !== undefined || rule.httpStatus !== undefined;
        if (!fail && failing && random() < rule.rate) {
          rule.fired += 1;
          fail = rule;
        }
      }
      return { latencyMs, fail };
    },
    middleware(platform, answer) {
      return async (ctx, next) => {
        const { latencyMs, fail } = faults.decide(platform, ctx.path);
        if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
        if (!fail) {
          await next();
          return;
        }
        if (fail.reset) {
          ctx.req.socket.destroy();
          ctx.respond = false;
          return;
        }
        if (fail.hang) {
          // Hold the request until the client gives up (or 60 s), then drop it.
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 60_000);
            ctx.req.socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          });
          ctx.req.socket.destroy();
          ctx.respond = false;
          return;
        }
        answer(ctx, fail);
      };
    },
  };
  return faults;
}
