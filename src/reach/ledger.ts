/**
 * The reach ledger: before every send, one atomic answer to "may this message go to this follower now, on this
 * channel, and what is left?" — allow, deny(reason) or defer(until). The hot state lives in one Redis hash per
 * follower and account (windows, subscription, one-time consents, monthly counters) plus per-profile cap counters,
 * read and spent by a single Lua script so concurrent senders in any process can never overspend a quota.
 * Every decision that spends or refuses lands in the MongoDB history with its reason.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../infra/logger.js';
import { redisScript, type Redis } from '../infra/redis.js';
import { inGlobalControl, type HoldoutPolicy } from './holdouts.js';
import type { ReachEventDoc, ReachHistory } from './model.js';
import {
  capsFor,
  daysInShanghaiMonth,
  inQuietHours,
  nextAllowedTime,
  shanghaiDay,
  shanghaiMonth,
  shanghaiWeek,
  type ReachChannel,
  type ReachClass,
  type ReachPolicy,
  type WindowKind,
} from './policy.js';

export interface ReachRequest {
  account: string;
  openid: string;
  /** The CRM profile: marketing caps count per profile across channels (else per follower). */
  profileId?: string;
  /** The profile's tier, for its caps. */
  tier?: string;
  channel: ReachChannel;
  class: ReachClass;
  /** Required for `subscription`: the one-time consent is per template. */
  templateId?: string;
  /** Makes a reserve/record/release idempotent: a retry gets the first answer and spends nothing more. */
  key?: string;
  /** Defaults to the ledger's clock. */
  at?: Date;
}

export interface QuotaLeft {
  /** Customer-service sends left in the open windows; null = unlimited (payment window); 0 when closed. */
  customerService: number | null;
  /** When the latest open customer-service window closes. */
  windowUntil?: Date;
  massThisMonth: number;
  wecomThisMonth: number;
  /** One-time subscription consents left for the template asked about. */
  subscription: number;
  marketingToday: number;
  marketingThisWeek: number;
}

export type DenyReason =
  | 'not_subscribed'
  | 'cs_window_closed'
  | 'cs_quota_used'
  | 'mass_monthly_quota'
  | 'wecom_monthly_quota'
  | 'no_subscription_consent'
  | 'cap_day'
  | 'cap_week'
  | 'holdout_control';

export type ReachDecision =
  | { verdict: 'allow'; reason: string; window?: WindowKind; quota: QuotaLeft }
  | { verdict: 'deny'; reason: DenyReason; quota: QuotaLeft }
  | { verdict: 'defer'; reason: 'quiet_hours'; until: Date; quota: QuotaLeft };

export interface ReachLedger {
  readonly policy: ReachPolicy;
  /** Answers without spending anything. */
  check(request: ReachRequest): Promise<ReachDecision>;
  /** Check and spend in one atomic step: an `allow` has already been counted. Call `release` if the send then fails. */
  reserve(request: ReachRequest): Promise<ReachDecision>;
  /** Counts a send that went out (when the caller checked first); spends what it can, refuses nothing. */
  record(request: ReachRequest & { window?: WindowKind }): Promise<void>;
  /** Gives back what a reserve took when WeChat did not deliver. */
  release(request: ReachRequest, decision: ReachDecision): Promise<void>;
  /** A customer-service window opened by an interaction (fed by the gateway and by payments). */
  openWindow(input: { account: string; openid: string; kind: WindowKind; at: Date; key?: string }): Promise<void>;
  /** The follower followed (opens the event window too) or unfollowed (closes every window). */
  setSubscribed(input: { account: string; openid: string; subscribed: boolean; at: Date; key?: string }): Promise<void>;
  /** One-time subscription-message consents: `accept` adds one send, `reject` removes all for the template. */
  subscriptionConsent(input: {
    account: string;
    openid: string;
    templateId: string;
    accepted: boolean;
    at: Date;
    key?: string;
  }): Promise<void>;
  /** The raw hot state of a follower (for the recount and for support). */
  state(account: string, openid: string): Promise<Record<string, string>>;
  history: ReachHistory;
}

export interface ReachLedgerDeps {
  redis: Redis;
  logger: Logger;
  policy: ReachPolicy;
  history: ReachHistory;
  /** The global control group: its profiles receive no marketing (absent = no control group). */
  holdout?: HoldoutPolicy;
  now?: () => Date;
}

const followerKey = (account: string, openid: string) => `reach:f:${account}:${openid}`;
const FOLLOWER_TTL_SECONDS = 400 * 86_400; // one-time consents have no expiry at WeChat; keep them over a year

// KEYS: 1 follower hash, 2 cap day, 3 cap week, 4 idempotency key.
// ARGV: 1 mode (check|reserve|record|release), 2 channel, 3 marketing 1/0, 4 now ms, 5 month, 6 mass limit,
//       7 wecom limit, 8 day cap, 9 week cap, 10 template id, 11 use idempotency 1/0, 12 window to release/record,
//       13 follower ttl seconds, 14 message-window allowance, 15 event-window allowance.
// Returns JSON {allow, reason, window, cs, until, mass, wecom, ot, day, week, replay}.
const DECIDE = `
local h = KEYS[1]
local mode = ARGV[1]
local channel = ARGV[2]
local marketing = ARGV[3] == '1'
local now = tonumber(ARGV[4])
local month = ARGV[5]
local massLimit = tonumber(ARGV[6])
local wecomLimit = tonumber(ARGV[7])
local dayCap = tonumber(ARGV[8])
local weekCap = tonumber(ARGV[9])
local tpl = ARGV[10]
local idem = ARGV[11] == '1' and mode ~= 'check'
if idem then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local r = cjson.decode(prev)
    r.replay = true
    return cjson.encode(r)
  end
end
local f = redis.call('HMGET', h, 'sub', 'msg_until', 'msg_left', 'evt_until', 'evt_left', 'pay_until',
  'mass:' .. month, 'wecom:' .. month, 'ot:' .. tpl)
local sub = f[1]
local msgUntil = tonumber(f[2]) or 0
local msgLeft = tonumber(f[3]) or 0
local evtUntil = tonumber(f[4]) or 0
local evtLeft = tonumber(f[5]) or 0
local payUntil = tonumber(f[6]) or 0
local mass = tonumber(f[7]) or 0
local wecom = tonumber(f[8]) or 0
local ot = tonumber(f[9]) or 0
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local week = tonumber(redis.call('GET', KEYS[3]) or '0')
local r = { allow = true, reason = 'ok', window = '' }
local function deny(reason) r.allow = false; r.reason = reason end

local pay = payUntil > now
local evt = evtUntil > now
local msg = msgUntil > now
local cs = 0
local untilAt = 0
if pay then cs = -1; untilAt = payUntil end
if evt then if cs >= 0 then cs = cs + evtLeft end; if evtUntil > untilAt then untilAt = evtUntil end end
if msg then if cs >= 0 then cs = cs + msgLeft end; if msgUntil > untilAt then untilAt = msgUntil end end

if mode == 'release' then
  local w = ARGV[12]
  if channel == 'customer_service' then
    -- Never above the window's allowance: a newer interaction may have refilled it since the reserve.
    if w == 'event' and evt and evtLeft < tonumber(ARGV[15]) then redis.call('HINCRBY', h, 'evt_left', 1)
    elseif w == 'message' and msg and msgLeft < tonumber(ARGV[14]) then redis.call('HINCRBY', h, 'msg_left', 1) end
  elseif channel == 'mass' and mass > 0 then redis.call('HINCRBY', h, 'mass:' .. month, -1)
  elseif channel == 'wecom_group' and wecom > 0 then redis.call('HINCRBY', h, 'wecom:' .. month, -1)
  elseif channel == 'subscription' then redis.call('HINCRBY', h, 'ot:' .. tpl, 1)
  end
  if marketing then
    if day > 0 then redis.call('DECR', KEYS[2]) end
    if week > 0 then redis.call('DECR', KEYS[3]) end
  end
  r.reason = 'released'
  if idem then redis.call('SET', KEYS[4], cjson.encode(r), 'EX', 86400) end
  return cjson.encode(r)
end

if sub == '0' and channel ~= 'wecom_group' then
  deny('not_subscribed')
elseif channel == 'customer_service' then
  if not (pay or evt or msg) then deny('cs_window_closed')
  elseif pay then r.window = 'payment'
  elseif evt and evtLeft > 0 then r.window = 'event'
  elseif msg and msgLeft > 0 then r.window = 'message'
  else deny('cs_quota_used') end
elseif channel == 'mass' then
  if mass >= massLimit then deny('mass_monthly_quota') end
elseif channel == 'wecom_group' then
  if wecom >= wecomLimit then deny('wecom_monthly_quota') end
elseif channel == 'subscription' then
  if ot <= 0 then deny('no_subscription_consent') end
end
if r.allow and marketing then
  if day >= dayCap then deny('cap_day') elseif week >= weekCap then deny('cap_week') end
end
if mode == 'record' and ARGV[12] ~= '' then r.window = ARGV[12] end

if (mode == 'reserve' and r.allow) or mode == 'record' then
  if channel == 'customer_service' then
    if r.window == 'event' and evtLeft > 0 then
      redis.call('HINCRBY', h, 'evt_left', -1); evtLeft = evtLeft - 1; if cs > 0 then cs = cs - 1 end
    elseif r.window == 'message' and msgLeft > 0 then
      redis.call('HINCRBY', h, 'msg_left', -1); msgLeft = msgLeft - 1; if cs > 0 then cs = cs - 1 end
    end
  elseif channel == 'mass' then mass = redis.call('HINCRBY', h, 'mass:' .. month, 1)
  elseif channel == 'wecom_group' then wecom = redis.call('HINCRBY', h, 'wecom:' .. month, 1)
  elseif channel == 'subscription' and ot > 0 then ot = redis.call('HINCRBY', h, 'ot:' .. tpl, -1)
  end
  if marketing then
    day = redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], 172800)
    week = redis.call('INCR', KEYS[3]); redis.call('EXPIRE', KEYS[3], 1209600)
  end
  redis.call('EXPIRE', h, tonumber(ARGV[13]))
end
r.cs = cs
r['until'] = untilAt
r.mass = massLimit - mass
r.wecom = wecomLimit - wecom
r.ot = ot
r.day = dayCap - day
r.week = weekCap - week
local out = cjson.encode(r)
if idem then redis.call('SET', KEYS[4], out, 'EX', 86400) end
return out`;

// KEYS: 1 follower hash. ARGV: 1 op, 2 now/at ms, 3 until ms, 4 left (-1 = unlimited), 5 template, 6 ttl.
// Windows only move forward: a late-delivered older interaction never shortens or refills a newer window.
const OPEN = `
local h = KEYS[1]
local op = ARGV[1]
local untilAt = tonumber(ARGV[3])
local function open(prefix, left)
  local cur = tonumber(redis.call('HGET', h, prefix .. '_until') or '0')
  if untilAt > cur then
    redis.call('HSET', h, prefix .. '_until', untilAt)
    if left >= 0 then redis.call('HSET', h, prefix .. '_left', left) end
    return 1
  end
  return 0
end
local changed = 0
if op == 'message' then changed = open('msg', tonumber(ARGV[4]))
elseif op == 'event' then changed = open('evt', tonumber(ARGV[4]))
elseif op == 'payment' then changed = open('pay', -1)
elseif op == 'follow' then
  redis.call('HSET', h, 'sub', '1')
  redis.call('HDEL', h, 'msg_until', 'msg_left')
  changed = open('evt', tonumber(ARGV[4]))
elseif op == 'unfollow' then
  redis.call('HSET', h, 'sub', '0')
  redis.call('HDEL', h, 'msg_until', 'msg_left', 'evt_until', 'evt_left', 'pay_until')
  changed = 1
elseif op == 'accept' then changed = redis.call('HINCRBY', h, 'ot:' .. ARGV[5], 1)
elseif op == 'reject' then changed = redis.call('HDEL', h, 'ot:' .. ARGV[5])
end
redis.call('EXPIRE', h, tonumber(ARGV[6]))
return changed`;

const decideScript = redisScript(DECIDE);
const openScript = redisScript(OPEN);

interface ScriptAnswer {
  allow: boolean;
  reason: string;
  window: string;
  cs: number;
  until: number;
  mass: number;
  wecom: number;
  ot: number;
  day: number;
  week: number;
  replay?: boolean;
}

function quotaOf(a: ScriptAnswer): QuotaLeft {
  return {
    customerService: a.cs < 0 ? null : a.cs,
    ...(a.until > 0 ? { windowUntil: new Date(a.until) } : {}),
    massThisMonth: Math.max(0, a.mass),
    wecomThisMonth: Math.max(0, a.wecom),
    subscription: Math.max(0, a.ot),
    marketingToday: Math.max(0, a.day),
    marketingThisWeek: Math.max(0, a.week),
  };
}

const windowOf = (w: string): WindowKind | undefined =>
  w === 'message' || w === 'event' || w === 'payment' ? w : undefined;

/** Builds the ledger over Redis (hot state) and the history writer (MongoDB). */
export function createReachLedger(deps: ReachLedgerDeps): ReachLedger {
  const { redis, policy, history } = deps;
  const now = deps.now ?? (() => new Date());

  async function run(mode: 'check' | 'reserve' | 'record' | 'release', req: ReachRequest, window = '') {
    if (req.channel === 'subscription' && !req.templateId) throw new Error('a subscription send names its template');
    const at = req.at ?? now();
    const caps = capsFor(policy, req.tier);
    const capSubject = req.profileId ?? `${req.account}:${req.openid}`;
    const wecomLimit = policy.wecomPerMonth ?? daysInShanghaiMonth(at);
    const raw = (await decideScript(
      redis,
      [
        followerKey(req.account, req.openid),
        `reach:cap:d:${shanghaiDay(at)}:${capSubject}`,
        `reach:cap:w:${shanghaiWeek(at)}:${capSubject}`,
        `reach:k:${req.key ?? '-'}`,
      ],
      [
        mode,
        req.channel,
        req.class === 'marketing' ? '1' : '0',
        at.getTime(),
        shanghaiMonth(at),
        policy.massPerMonth,
        wecomLimit,
        caps.perDay,
        caps.perWeek,
        req.templateId ?? '',
        req.key ? '1' : '0',
        window,
        FOLLOWER_TTL_SECONDS,
        policy.windows.message.messages ?? 0,
        policy.windows.event.messages ?? 0,
      ],
    )) as string;
    return JSON.parse(raw) as ScriptAnswer;
  }

  const historyOf = (
    req: ReachRequest,
    type: ReachEventDoc['type'],
    reason: string,
    extra: Partial<ReachEventDoc> = {},
  ): ReachEventDoc => ({
    key: req.key ? `${type}:${req.key}` : randomUUID(),
    type,
    account: req.account,
    openid: req.openid,
    ...(req.profileId ? { profileId: req.profileId } : {}),
    channel: req.channel,
    class: req.class,
    ...(req.templateId ? { templateId: req.templateId } : {}),
    reason,
    at: req.at ?? now(),
    ...extra,
  });

  async function decide(mode: 'check' | 'reserve', req: ReachRequest): Promise<ReachDecision> {
    const at = req.at ?? now();
    const marketing = req.class === 'marketing';
    // The control group is never marketed to, whatever the channel: it is what the lift is measured against.
    const control = marketing && !!req.profileId && !!deps.holdout && inGlobalControl(deps.holdout, req.profileId);
    const quiet = marketing && inQuietHours(policy, at);
    const answer = await run(quiet || control ? 'check' : mode, req);
    const quota = quotaOf(answer);
    let decision: ReachDecision;
    if (control) {
      decision = { verdict: 'deny', reason: 'holdout_control', quota };
    } else if (quiet) {
      decision = { verdict: 'defer', reason: 'quiet_hours', until: nextAllowedTime(policy, at), quota };
    } else if (answer.allow) {
      const window = windowOf(answer.window);
      decision = { verdict: 'allow', reason: answer.reason, ...(window ? { window } : {}), quota };
    } else {
      decision = { verdict: 'deny', reason: answer.reason as DenyReason, quota };
    }
    if (mode === 'reserve' && !answer.replay) {
      if (decision.verdict === 'allow')
        history.add(historyOf(req, 'reserve', req.class, decision.window ? { window: decision.window } : {}));
      else if (decision.verdict === 'deny') history.add(historyOf(req, 'deny', decision.reason));
      else history.add(historyOf(req, 'defer', decision.reason, { until: decision.until }));
    }
    return decision;
  }

  const follower = async (
    input: { account: string; openid: string; at: Date; key?: string },
    op: string,
    untilAt: number,
    left: number,
    event: Omit<ReachEventDoc, 'key' | 'account' | 'openid' | 'at'>,
    templateId = '',
  ) => {
    await openScript(
      redis,
      [followerKey(input.account, input.openid)],
      [op, input.at.getTime(), untilAt, left, templateId, FOLLOWER_TTL_SECONDS],
    );
    history.add({
      key: input.key ? `${op}:${input.key}` : randomUUID(),
      account: input.account,
      openid: input.openid,
      at: input.at,
      ...event,
    });
  };

  return {
    policy,
    history,
    check: (req) => decide('check', req),
    reserve: (req) => decide('reserve', req),
    async record(req) {
      const answer = await run('record', req, req.window ?? '');
      if (!answer.replay) {
        const window = windowOf(answer.window);
        history.add(historyOf(req, 'record', req.class, window ? { window } : {}));
      }
    },
    async release(req, decision) {
      if (decision.verdict !== 'allow') return;
      // Its own idempotency key: the reserve's key would replay the reserve's answer.
      const answer = await run(
        'release',
        { ...req, ...(req.key ? { key: `${req.key}:release` } : {}) },
        decision.window ?? '',
      );
      if (!answer.replay)
        history.add(historyOf(req, 'release', 'not_delivered', decision.window ? { window: decision.window } : {}));
    },
    async openWindow(input) {
      const rule = policy.windows[input.kind];
      await follower(input, input.kind, input.at.getTime() + rule.ms, rule.messages ?? -1, {
        type: 'open',
        window: input.kind,
        reason: 'interaction',
      });
    },
    async setSubscribed(input) {
      const rule = policy.windows.event;
      await follower(
        input,
        input.subscribed ? 'follow' : 'unfollow',
        input.at.getTime() + rule.ms,
        rule.messages ?? -1,
        {
          type: input.subscribed ? 'open' : 'close',
          ...(input.subscribed ? { window: 'event' } : {}),
          reason: input.subscribed ? 'subscribe' : 'unsubscribe',
        },
      );
    },
    async subscriptionConsent(input) {
      await follower(
        input,
        input.accepted ? 'accept' : 'reject',
        0,
        0,
        {
          type: input.accepted ? 'consent' : 'revoke',
          channel: 'subscription',
          templateId: input.templateId,
          reason: input.accepted ? 'accept' : 'reject',
        },
        input.templateId,
      );
    },
    async state(account, openid) {
      return redis.hgetall(followerKey(account, openid));
    },
  };
}
