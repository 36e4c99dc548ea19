/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import { createEventBus, type EventBus } from './infra/events.js';
import type { Infra } from './infra/runtime.js';
import { createGatewayServices, type GatewayServices } from './gateway/index.js';

export type AppDeps = Infra &
  GatewayServices & {
    /** In-process domain events (e.g. `wechat.inbound`); subscribers are isolated from publishers. */
    events: EventBus;
  };

export async function createServices(infra: Infra): Promise<AppDeps> {
  const failedDeliveries = infra.metrics.counter('domain_event_failures_total', 'Failed event deliveries', ['event']);
  const events = createEventBus({
    logger: infra.logger,
    onError: (event) => failedDeliveries.inc({ event }),
  });
  // The official-account client's customer-service sender replaces the recording default once wired.
  const gateway = createGatewayServices(infra, events);
  return { ...infra, events, ...gateway };
}
