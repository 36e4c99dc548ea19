/**
 * Reservation codes: the public surface other domains and the composition root use.
 */
import type { Infra } from '../infra/runtime.js';
import { createAttemptGuard } from '../risk/attempts.js';
import { deriveCodeKeys } from './codes.js';
import type { EligibilityPort, ReservationDeps, ReservationNotifier } from './service.js';

export * from './service.js';
export { CUSTOMER_WORDING, RESERVATION_ERRORS, type ReservationErrorCode } from './errors.js';
export { formatCode, parseCode } from './codes.js';

/** Builds the domain's dependencies from the process infrastructure and the two ports it needs. */
export function createReservationDeps(
  infra: Pick<Infra, 'config' | 'redis' | 'logger' | 'metrics'>,
  ports: { eligibility: EligibilityPort; notifier: ReservationNotifier; now?: () => Date },
): ReservationDeps {
  const settings = infra.config.reservations;
  const logger = infra.logger.child({ domain: 'reservations' });
  const alerts = infra.metrics.counter('risk_alerts_total', 'Bursts of failed attempts worth a look', ['action']);
  return {
    redis: infra.redis,
    logger,
    metrics: infra.metrics,
    keys: deriveCodeKeys(settings.codeSecret),
    eligibility: ports.eligibility,
    notifier: ports.notifier,
    attempts: createAttemptGuard(
      infra.redis,
      'reservation.redeem',
      {
        maxFailures: settings.maxFailures,
        windowSeconds: settings.failureWindowSeconds,
        lockSeconds: settings.lockSeconds,
        burstPerMinute: settings.burstAlertPerMinute,
      },
      (alert) => {
        alerts.inc({ action: alert.action });
        logger.warn({ alert }, 'burst of failed reservation-code attempts');
      },
    ),
    ...(ports.now ? { now: ports.now } : {}),
  };
}
