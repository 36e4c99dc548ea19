/**
 * Reservation jobs: expiry reminders (once per code), retries of notices that could not be sent or were left
 * pending, and the drain of the notice queue (messages decided on the redemption path).
 */
import type { Agenda } from '../infra/agenda.js';
import { sendDueReminders, startNoticeDrain, type ReservationDeps } from './service.js';

export const REMIND_EXPIRING = 'reservations.remind-expiring';

export function defineReservationJobs(agenda: Agenda, deps: ReservationDeps): void {
  agenda.define(REMIND_EXPIRING, async () => {
    const result = await sendDueReminders(deps);
    if (result.reminded + result.retried > 0) deps.logger.info(result, 'reservation reminders sent');
  });
}

export async function scheduleReservationJobs(agenda: Agenda): Promise<void> {
  await agenda.every('10 minutes', REMIND_EXPIRING);
}

/** Worker processes send the notices queued by redemptions (see queueNotice in service.ts). */
export function startReservationDrains(deps: ReservationDeps): () => Promise<void> {
  return startNoticeDrain(deps);
}
