/**
 * The action registry: one namespace for what a menu CLICK key or a keyword rule can do. Built-in actions
 * are registered by the conversation service (reply, service_query, reminder, handoff, opt_out); other
 * domains register theirs by name through `deps.conversation.actions.register` ("reservations.my_codes").
 */
import type { Logger } from '../infra/logger.js';
import { DomainError } from '../infra/errors.js';
import type { Reply } from '../platform/wechat/replies.js';

export interface ActionCall {
  account: string;
  openid: string;
  /** The follower's text, for keyword rules. */
  text?: string;
  /** The rule's or menu key's parameters (each action validates its own). */
  params: Record<string, unknown>;
  /** WeChat's MsgId (or the event's dedup key): an idempotency key for writes. */
  eventId: string;
  /** Aborted when the gateway stops waiting; a later reply still goes out as a customer-service message. */
  signal: AbortSignal;
  deadlineAt: number;
  log: Logger;
  /** The follower's CRM profile id, once the CRM knows them. */
  profileId(): Promise<string | undefined>;
}

export type ActionHandler = (call: ActionCall) => Reply | undefined | Promise<Reply | undefined>;

export interface ActionRegistry {
  /** Adds an action; a name is taken once (a second registration is a programming error). */
  register(name: string, handler: ActionHandler, description?: string): void;
  has(name: string): boolean;
  run(name: string, call: ActionCall): Promise<Reply | undefined>;
  list(): Array<{ name: string; description?: string }>;
}

export function createActionRegistry(): ActionRegistry {
  const actions = new Map<string, { handler: ActionHandler; description?: string }>();
  return {
    register(name, handler, description) {
      if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(name)) throw new Error(`invalid action name "${name}"`);
      if (actions.has(name)) throw new Error(`action "${name}" is already registered`);
      actions.set(name, { handler, ...(description ? { description } : {}) });
    },
    has: (name) => actions.has(name),
    async run(name, call) {
      const action = actions.get(name);
      if (!action) throw new DomainError('not_found', 'unknown_action', `No action "${name}" is registered.`);
      return action.handler(call);
    },
    list: () => [...actions].map(([name, a]) => ({ name, ...(a.description ? { description: a.description } : {}) })),
  };
}
