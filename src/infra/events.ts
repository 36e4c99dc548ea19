/**
 * A typed in-process domain-event bus. Publishers never wait for subscribers and never see their
 * failures: each subscriber runs on its own, after the publisher's turn, and an error (thrown or
 * rejected) is logged with the event name and counted, never propagated. Durable side effects that
 * must survive a crash belong in jobs; this bus is for in-process fan-out (timeline, attribution).
 *
 * Domains declare their events by augmenting `DomainEvents`:
 *   declare module '../infra/events.js' { interface DomainEvents { 'crm.profile-created': { profileId: string } } }
 */
import type { Logger } from './logger.js';

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- augmented by each domain
export interface DomainEvents {}

export type EventName = Extract<keyof DomainEvents, string>;
export type Subscriber<K extends EventName> = (payload: DomainEvents[K]) => void | Promise<void>;

export interface EventBus {
  /** Delivers `payload` to every subscriber of `name`, asynchronously; returns at once. */
  publish<K extends EventName>(name: K, payload: DomainEvents[K]): void;
  /** Adds a subscriber; returns a function that removes it. */
  subscribe<K extends EventName>(name: K, subscriber: Subscriber<K>): () => void;
  /** Resolves once every delivery started so far has settled (tests, graceful shutdown). */
  idle(): Promise<void>;
}

export interface EventBusOptions {
  logger: Logger;
  /** Called once per failed delivery, e.g. to count it in metrics. */
  onError?: (name: string, err: unknown) => void;
}

export function createEventBus(options: EventBusOptions): EventBus {
  const subscribers = new Map<string, Set<(payload: unknown) => void | Promise<void>>>();
  const pending = new Set<Promise<void>>();

  function deliver(name: string, subscriber: (payload: unknown) => void | Promise<void>, payload: unknown): void {
    const run = (async () => {
      // Yield first so a subscriber never runs inside the publisher's call stack.
      await Promise.resolve();
      try {
        await subscriber(payload);
      } catch (err) {
        options.logger.error({ err, event: name }, 'event subscriber failed');
        options.onError?.(name, err);
      }
    })();
    pending.add(run);
    void run.finally(() => pending.delete(run));
  }

  return {
    publish(name, payload) {
      const set = subscribers.get(name);
      if (!set) return;
      for (const subscriber of set) deliver(name, subscriber, payload);
    },
    subscribe(name, subscriber) {
      let set = subscribers.get(name);
      if (!set) {
        set = new Set();
        subscribers.set(name, set);
      }
      const entry = subscriber as (payload: unknown) => void | Promise<void>;
      set.add(entry);
      return () => {
        set.delete(entry);
      };
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
