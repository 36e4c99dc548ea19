/**
 * Gateway handlers: texts to a phone verification under way, then to keyword rules (after the domains' own
 * text handlers), CLICK keys to actions,
 * subscribes to the welcome, and — last in the chain — the default reply for texts nothing answered.
 */
import type { HandlerContext, HandlerRegistry } from '../gateway/index.js';
import type { ActionCall } from './actions.js';
import type { Engine } from './engine.js';
import type { PhoneVerification } from './verification.js';

export function registerConversationHandlers(
  registry: HandlerRegistry,
  engine: Engine,
  verification: PhoneVerification,
  profileOf: (account: string, openid: string) => Promise<string | undefined>,
): void {
  const base = (openid: string, eventId: string, ctx: HandlerContext): Omit<ActionCall, 'params' | 'text'> => {
    let profile: Promise<string | undefined> | undefined;
    return {
      account: ctx.account,
      openid,
      eventId,
      signal: ctx.signal,
      deadlineAt: ctx.deadlineAt,
      log: ctx.log,
      profileId: () => (profile ??= profileOf(ctx.account, openid)),
    };
  };
  const eventIdOf = (m: { msgId?: string; openid: string; createTime: number }) =>
    m.msgId ?? `${m.openid}:${m.createTime}`;

  registry.onText(async (message, ctx) => {
    const call = base(message.openid, eventIdOf(message), ctx);
    return (
      (await verification.respond({ ...call, text: message.content }, message.content)) ??
      engine.respondToText(call, message.content)
    );
  });
  registry.onEvent('CLICK', (event, ctx) =>
    engine.respondToClick(base(event.openid, eventIdOf(event), ctx), event.key),
  );
  registry.onEvent('subscribe', (event, ctx) =>
    engine.welcome(base(event.openid, eventIdOf(event), ctx), event.sceneId),
  );
  registry.onAny((inbound, ctx) => {
    if (inbound.kind !== 'message' || inbound.type !== 'text') return undefined;
    return engine.fallback(base(inbound.openid, eventIdOf(inbound), ctx), inbound.content);
  });
}
