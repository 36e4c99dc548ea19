/**
 * The handler registry: later domains (menus, keywords, referrals, CRM) plug their behaviour in by
 * message type or event name without touching the gateway.
 *
 * Semantics (a chain, first answer wins):
 *  - handlers for the exact type/event run first, in registration order, then `onAny` handlers;
 *  - a handler answers by returning a Reply; returning undefined passes to the next handler;
 *  - a handler that throws is logged and skipped (the chain goes on); it never fails the callback;
 *  - when nobody answers, WeChat gets "success" (no reply).
 * Handlers receive an AbortSignal that fires at the gateway deadline; a reply that comes later is
 * still delivered, through the customer-service API.
 */
import type { Logger } from '../infra/logger.js';
import type { EventType, Inbound, InboundEvent, InboundMessage, MessageType } from '../platform/wechat/inbound.js';
import type { Reply } from '../platform/wechat/replies.js';

export interface HandlerContext {
  /** The account key (`/wechat/:account/callback`). */
  account: string;
  requestId: string;
  log: Logger;
  /** Aborted when the reply window closes; later work should stop or hurry. */
  signal: AbortSignal;
  /** Epoch milliseconds at which the gateway stops waiting. */
  deadlineAt: number;
}

export type Handler<M extends Inbound = Inbound> = (
  message: M,
  ctx: HandlerContext,
) => Reply | undefined | Promise<Reply | undefined>;

/** The message variant(s) whose `type` can be T. */
export type MessageOf<T extends MessageType> = InboundMessage extends infer M
  ? M extends { type: infer U }
    ? T extends U
      ? M
      : never
    : never
  : never;
/** The event variant(s) whose `event` can be E. */
export type EventOf<E extends EventType> = InboundEvent extends infer M
  ? M extends { event: infer U }
    ? E extends U
      ? M
      : never
    : never
  : never;

export interface HandlerRegistry {
  onMessage<T extends MessageType>(type: T, handler: Handler<MessageOf<T>>): () => void;
  onText(handler: Handler<MessageOf<'text'>>): () => void;
  onEvent<E extends EventType>(event: E, handler: Handler<EventOf<E>>): () => void;
  /** Messages and events this model does not know (kept and logged by the gateway). */
  onUnknown(handler: Handler): () => void;
  /** Runs after the specific handlers passed: fallbacks such as a default auto-reply. */
  onAny(handler: Handler): () => void;
  /** Runs the chain for one inbound message; resolves to the first reply, or undefined. */
  dispatch(inbound: Inbound, ctx: HandlerContext): Promise<Reply | undefined>;
}

function slotOf(inbound: Inbound): string {
  if (inbound.kind === 'message') return inbound.type === 'unknown' ? 'unknown' : `message:${inbound.type}`;
  return inbound.event === 'unknown' ? 'unknown' : `event:${inbound.event}`;
}

export function createHandlerRegistry(): HandlerRegistry {
  const slots = new Map<string, Handler[]>();
  const fallbacks: Handler[] = [];

  function add(slot: string, handler: Handler): () => void {
    const list = slots.get(slot) ?? [];
    list.push(handler);
    slots.set(slot, list);
    return () => {
      const i = list.indexOf(handler);
      if (i >= 0) list.splice(i, 1);
    };
  }

  const registry: HandlerRegistry = {
    onMessage: (type, handler) => add(`message:${type}`, handler as Handler),
    onText: (handler) => add('message:text', handler as Handler),
    onEvent: (event, handler) => add(`event:${event}`, handler as Handler),
    onUnknown: (handler) => add('unknown', handler),
    onAny(handler) {
      fallbacks.push(handler);
      return () => {
        const i = fallbacks.indexOf(handler);
        if (i >= 0) fallbacks.splice(i, 1);
      };
    },
    async dispatch(inbound, ctx) {
      const chain = [...(slots.get(slotOf(inbound)) ?? []), ...fallbacks];
      for (const handler of chain) {
        try {
          const reply = await handler(inbound, ctx);
          if (reply !== undefined) return reply;
        } catch (err) {
          ctx.log.error({ err, account: ctx.account, slot: slotOf(inbound) }, 'callback handler failed');
        }
      }
      return undefined;
    },
  };
  return registry;
}
