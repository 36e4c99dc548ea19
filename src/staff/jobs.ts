/**
 * Housekeeping for login sessions: FerretDB has no TTL indexes, so an hourly job deletes refresh tokens
 * that expired a day ago and sessions that ended a month ago. Idempotent: deleting twice deletes nothing.
 */
import type { Agenda } from '../infra/agenda.js';
import { RefreshToken, StaffSession } from './model.js';

export const PURGE_EXPIRED_SESSIONS_JOB = 'staff.purge-expired-sessions';

const DAY_MS = 86_400_000;

/** Deletes expired refresh tokens (after a day) and expired sessions (after 30 days, kept for inquiries). */
export async function purgeExpiredSessions(now: Date = new Date()): Promise<{ tokens: number; sessions: number }> {
  const tokens = await RefreshToken.deleteMany({ expiresAt: { $lt: new Date(now.getTime() - DAY_MS) } });
  const sessions = await StaffSession.deleteMany({ expiresAt: { $lt: new Date(now.getTime() - 30 * DAY_MS) } });
  return { tokens: tokens.deletedCount, sessions: sessions.deletedCount };
}

export function defineStaffJobs(agenda: Agenda): void {
  agenda.define(PURGE_EXPIRED_SESSIONS_JOB, async () => {
    await purgeExpiredSessions();
  });
}

export async function scheduleStaffJobs(agenda: Agenda): Promise<void> {
  await agenda.every('1 hour', PURGE_EXPIRED_SESSIONS_JOB);
}
