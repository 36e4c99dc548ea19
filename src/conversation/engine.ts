/**
 * The conversation on the callback path: which rule answers a text, what a CLICK key does, the welcome
 * by subscribe scene, and the rate-limited default reply. Rules and replies come from the in-memory
 * cache; only what the answer itself needs (a tier for tier rules, profile variables) is read.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { Types } from 'mongoose';
import { z } from 'zod';
import type { Crm } from '../crm/index.js';
import { maskPhonesIn } from '../crm/phone.js';
import type { CustomerServiceSender } from '../gateway/customer-service.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import { replies, type Reply } from '../platform/wechat/replies.js';
import type { ActionCall, ActionRegistry } from './actions.js';
import type { ConversationCache, RuleAnswer } from './cache.js';
import { inWindow, MAX_MESSAGE_LENGTH, normalizeText, type Compiled } from './keywords/matcher.js';
import { UnmatchedText } from './model.js';
import type { Answer, Provider, ReplyContent, WelcomeSceneKind } from './schemas.js';

export interface EngineDeps {
  cache: ConversationCache;
  redis: Redis;
  logger: Logger;
  crm: Crm;
  actions: ActionRegistry;
  customerService: CustomerServiceSender;
  profileOf(account: string, openid: string): Promise<string | undefined>;
  now?: () => Date;
}

/** What answers a text for an account and tier: the rule, or the built-in command list. */
export interface Decision {
  rule?: { id: string; name: string; match: string; pattern: string; priority: number; command?: string };
  answer?: Answer;
  commandList?: boolean;
}

const TIER_TTL_SECONDS = 300;
export const tierCacheKey = (profileId: string) => `conversation:tier:${profileId}`;

/** Scene of a subscribe: `qrscene_ref…` a referral, `qrscene_staff…` a staff member's code, any other QR a campaign. */
export function welcomeSceneOf(sceneId: string | undefined): WelcomeSceneKind {
  if (!sceneId) return 'plain';
  if (sceneId.startsWith('ref')) return 'referral';
  if (sceneId.startsWith('staff')) return 'staff';
  return 'campaign';
}

const ProviderAnswer = z.object({ text: z.string().min(1).max(2000) }).loose();

export function createEngine(deps: EngineDeps) {
  const now = deps.now ?? (() => new Date());
  const log = deps.logger.child({ domain: 'conversation' });

  async function tierOf(profileId: string | undefined): Promise<string | undefined> {
    if (!profileId) return undefined;
    const cached = await deps.redis.get(tierCacheKey(profileId));
    if (cached) return cached;
    const view = await deps.crm.profiles.view({ profileId: new Types.ObjectId(profileId) });
    await deps.redis.set(tierCacheKey(profileId), view.profile.tier, 'EX', TIER_TTL_SECONDS);
    return view.profile.tier;
  }

  /** The best rule for a text; the tier is looked up only when a tier-restricted rule is in the running. */
  async function decide(
    account: string,
    text: string,
    tier: () => Promise<string | undefined>,
  ): Promise<Decision | undefined> {
    const snapshot = deps.cache.current();
    const at = now();
    const candidates = snapshot.matcherOf(account).candidates(text, at);
    let knownTier: string | undefined;
    let tierLoaded = false;
    let chosen: Compiled<RuleAnswer> | undefined;
    for (const c of candidates) {
      if (c.tiers) {
        if (!tierLoaded) {
          knownTier = await tier();
          tierLoaded = true;
        }
        if (knownTier === undefined || !c.tiers.includes(knownTier)) continue;
      }
      chosen = c;
      break;
    }
    if (chosen)
      return {
        rule: {
          id: chosen.answer.ruleId,
          name: chosen.answer.name,
          match: chosen.match,
          pattern: chosen.pattern,
          priority: chosen.priority,
          ...(chosen.answer.command ? { command: chosen.answer.command } : {}),
        },
        answer: chosen.answer.answer,
      };
    if (normalizeText(text) === '0' && snapshot.commandsOf(account).length > 0) return { commandList: true };
    return undefined;
  }

  async function commandList(account: string, tier: () => Promise<string | undefined>): Promise<Reply> {
    const at = now();
    const commands = deps.cache.current().commandsOf(account);
    const needsTier = commands.some((c) => c.tiers);
    const known = needsTier ? await tier() : undefined;
    const lines = commands
      .filter((c) => inWindow(c.window, at) && (!c.tiers || (known !== undefined && c.tiers.includes(known))))
      .map((c) => `${c.command}. ${c.label}`);
    return replies.text(['请回复数字：', ...lines, '0. 查看本列表'].join('\n'));
  }

  async function render(content: ReplyContent, call: Pick<ActionCall, 'profileId'>): Promise<Reply> {
    switch (content.type) {
      case 'image':
        return replies.image(content.mediaId);
      case 'news':
        return replies.news(content.articles);
      case 'text': {
        if (!content.text.includes('{{')) return replies.text(content.text);
        const profileId = await call.profileId();
        const profile = profileId
          ? (await deps.crm.profiles.view({ profileId: new Types.ObjectId(profileId) })).profile
          : undefined;
        const text = content.text.replace(/\{\{\s*([a-z_.]+)\s*\}\}/gi, (_, name: string) => {
          if (!profile) return '';
          if (name.startsWith('attributes.')) {
            const value = profile.attributes[name.slice('attributes.'.length)];
            return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
              ? String(value)
              : '';
          }
          const value = { name: profile.name ?? '客户', tier: profile.tier, region: profile.region ?? '' }[name];
          return value ?? '';
        });
        return replies.text(text.trim() || '您好');
      }
    }
  }

  async function runAnswer(answer: Answer, call: Omit<ActionCall, 'params'>): Promise<Reply | undefined> {
    return deps.actions.run(answer.action, { ...call, params: answer.params ?? {} });
  }

  function signed(provider: Provider, body: string): Record<string, string> {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomUUID();
    const signature = createHmac('sha256', provider.secret).update(`${timestamp}\n${nonce}\n${body}`).digest('hex');
    return {
      'content-type': 'application/json',
      'x-scrm-timestamp': timestamp,
      'x-scrm-nonce': nonce,
      'x-scrm-signature': signature,
    };
  }

  /**
   * Asks a business system. The passive reply waits until shortly before the gateway's deadline; a slower
   * answer is sent later as a customer-service message, and the follower is told meanwhile.
   */
  async function serviceQuery(call: ActionCall, provider: Provider, query: string): Promise<Reply> {
    const profileId = await call.profileId();
    const cacheKey = `conversation:sq:${provider.key}:${createHash('sha256')
      .update(`${call.account}|${call.openid}|${query}`)
      .digest('hex')}`;
    if (provider.cacheSeconds > 0) {
      const cached = await deps.redis.get(cacheKey);
      if (cached) return replies.text(cached);
    }
    const body = JSON.stringify({ account: call.account, openid: call.openid, profileId: profileId ?? null, query });
    const started = Date.now();
    const answer = (async () => {
      const response = await fetch(provider.url, {
        method: 'POST',
        headers: signed(provider, body),
        body,
        signal: AbortSignal.timeout(provider.timeoutMs),
      });
      if (!response.ok) throw new Error(`provider answered ${response.status}`);
      const text = ProviderAnswer.parse(await response.json()).text;
      if (provider.cacheSeconds > 0) await deps.redis.set(cacheKey, text, 'EX', provider.cacheSeconds);
      return text;
    })();
    // Leave the gateway time to encrypt and answer.
    const waitMs = Math.max(0, Math.min(call.deadlineAt - Date.now() - 300, provider.timeoutMs));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), waitMs);
    });
    try {
      const first = await Promise.race([answer, late]);
      if (first !== 'late') return replies.text(first);
    } catch (err) {
      call.log.warn({ err, provider: provider.key, ms: Date.now() - started }, 'service query failed');
      return replies.text('查询服务暂时不可用，请稍后再试。');
    } finally {
      clearTimeout(timer);
    }
    void answer
      .then((text) => deps.customerService.send(call.account, call.openid, replies.text(text)))
      .then(() => call.log.info({ provider: provider.key, ms: Date.now() - started }, 'late service answer sent'))
      .catch((err: unknown) =>
        call.log.warn({ err, provider: provider.key, ms: Date.now() - started }, 'late service answer lost'),
      );
    return replies.text(provider.fallbackText);
  }

  /** Answers a follower's text, or undefined when nothing matches (the default reply comes later in the chain). */
  async function respondToText(base: Omit<ActionCall, 'params' | 'text'>, text: string): Promise<Reply | undefined> {
    const tier = async () => tierOf(await base.profileId());
    if (deps.crm.consent.isOptOutKeyword(text)) {
      await deps.crm.consent.handleInboundText({ account: base.account, openid: base.openid, text });
      return replies.text('您已退订营销消息，我们将不再向您推送活动信息。');
    }
    const decision = await decide(base.account, text, tier);
    if (!decision) return undefined;
    if (decision.commandList) return commandList(base.account, tier);
    return runAnswer(decision.answer!, { ...base, text });
  }

  /** A CLICK key: the menu's action for it, else an action registered under the key itself. */
  async function respondToClick(base: Omit<ActionCall, 'params' | 'text'>, key: string): Promise<Reply | undefined> {
    const answer = deps.cache.current().menus(base.account)?.actions[key];
    if (answer) return runAnswer(answer, base);
    if (deps.actions.has(key)) return deps.actions.run(key, { ...base, params: {} });
    base.log.info({ account: base.account, key }, 'conversation: click key without an action');
    return undefined;
  }

  /** The welcome for a subscribe, chosen by scene and by whether the follower had unfollowed before. */
  async function welcome(
    base: Omit<ActionCall, 'params' | 'text'>,
    sceneId: string | undefined,
  ): Promise<Reply | undefined> {
    const settings = deps.cache.current().settings(base.account);
    const scene = welcomeSceneOf(sceneId);
    const returning = (await deps.crm.followers.state(base.account, base.openid))?.lastUnsubscribedAt !== undefined;
    const content =
      (returning ? settings.welcome.returning : undefined) ?? settings.welcome[scene] ?? settings.welcome.plain;
    return content ? render(content, base) : undefined;
  }

  /** The default reply, at most once per cooldown per follower; every unmatched text is logged for the report. */
  async function fallback(base: Omit<ActionCall, 'params' | 'text'>, text: string): Promise<Reply | undefined> {
    // A phone number typed outside a verification is still kept only masked.
    const logged = maskPhonesIn(normalizeText(text)).slice(0, 200);
    if (logged)
      void UnmatchedText.create({ account: base.account, text: logged, at: now() }).catch((err: unknown) =>
        log.warn({ err }, 'conversation: unmatched text not logged'),
      );
    const settings = deps.cache.current().settings(base.account);
    if (!settings.defaultReply) return undefined;
    if (settings.defaultReplyCooldownSeconds > 0) {
      const fresh = await deps.redis.set(
        `conversation:default:${base.account}:${base.openid}`,
        '1',
        'EX',
        settings.defaultReplyCooldownSeconds,
        'NX',
      );
      if (fresh !== 'OK') return undefined;
    }
    return render(settings.defaultReply, base);
  }

  return {
    decide,
    render,
    serviceQuery,
    respondToText,
    respondToClick,
    welcome,
    fallback,
    tierOf,
    maxText: MAX_MESSAGE_LENGTH,
  };
}

export type Engine = ReturnType<typeof createEngine>;
