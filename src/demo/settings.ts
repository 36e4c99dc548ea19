/**
 * The demo fund company's settings, shared by `npm run demo` and the acceptance suite: its tiers, its first
 * admin, four eyes on every push, referral settlement every few seconds (the day is played in minutes),
 * and quiet hours that do not swallow the day when it is played at night in Shanghai.
 */
import type { RawSettings } from '../infra/config.js';
import { shanghaiHour } from '../push/delivery.js';

/** The default quiet hours (config/default.ts): 22:00 → 08:00 Asia/Shanghai. */
const QUIET = { start: 22, end: 8 };

function quietAt(hour: number, start: number, end: number): boolean {
  return start > end ? hour >= start || hour < end : hour >= start && hour < end;
}

/**
 * Quiet hours for a day played now: the defaults when it is daytime in Shanghai (with an hour to spare),
 * otherwise a ten-hour quiet period starting four hours from now, so the push plays and the promise "no
 * marketing during quiet hours" is still checked against the hours the service runs with.
 */
export function quietHoursFor(now: Date): { start: number; end: number; moved: boolean } {
  const hour = shanghaiHour(now);
  const soon = (hour + 1) % 24;
  if (!quietAt(hour, QUIET.start, QUIET.end) && !quietAt(soon, QUIET.start, QUIET.end))
    return { ...QUIET, moved: false };
  return { start: (hour + 4) % 24, end: (hour + 14) % 24, moved: true };
}

export function demoSettings(admin: { username: string; password: string }, now = new Date()): RawSettings {
  const quiet = quietHoursFor(now);
  return {
    CRM_TIERS: 'regular,vip,qualified',
    ADMIN_USERNAME: admin.username,
    ADMIN_PASSWORD: admin.password,
    // The fund company's compliance rule: every marketing push is approved by a second person.
    APPROVAL_PUSH_AUDIENCE_THRESHOLD: '0',
    // Referral windows closed "yesterday" are settled within seconds, not at the next 5-minute run.
    REFERRAL_SETTLE_EVERY_SECONDS: '5',
    PUSH_QUIET_START_HOUR: String(quiet.start),
    PUSH_QUIET_END_HOUR: String(quiet.end),
  };
}
