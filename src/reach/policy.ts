/**
 * The rules the reach ledger applies: WeChat's own quotas (docs: wechat-platform §5 customer-service windows,
 * §7 mass sends, §13.8 WeCom group sends) and our anti-harassment policy (caps per tier, quiet hours in
 * Asia/Shanghai). Pure data and time arithmetic; the ledger enforces them atomically in Redis.
 */

/** Where a message goes out. */
export type ReachChannel = 'customer_service' | 'template' | 'subscription' | 'mass' | 'wecom_group';
export const REACH_CHANNELS: readonly ReachChannel[] = [
  'customer_service',
  'template',
  'subscription',
  'mass',
  'wecom_group',
];

/**
 * Why we send: `marketing` obeys caps and quiet hours; `transactional` (payout arrived, code redeemed, a reminder
 * the customer asked for) and `reply` (an answer to the customer's own message) bypass them — never WeChat's quotas.
 */
export type ReachClass = 'marketing' | 'transactional' | 'reply';
export const REACH_CLASSES: readonly ReachClass[] = ['marketing', 'transactional', 'reply'];

/** The interactions that open a customer-service window, each with WeChat's allowance. */
export type WindowKind = 'message' | 'event' | 'payment';

export interface WindowRule {
  /** How long the window stays open after the interaction. */
  ms: number;
  /** Messages allowed in it; null = unlimited. */
  messages: number | null;
}

export interface ReachPolicy {
  /**
   * WeChat's table (wechat-platform §5): a user message opens 5 sends / 48 h; a menu click (click, scancode_*),
   * a follow or a parameter-QR scan open 3 / 1 min; a payment opens 48 h without a count.
   */
  windows: Record<WindowKind, WindowRule>;
  /** Broadcasts a follower may receive per calendar month (§7). */
  massPerMonth: number;
  /** WeCom group sends per customer per month; null = the number of days in the month (§13.8 default). */
  wecomPerMonth: number | null;
  /** Our own marketing caps across all channels, per profile. */
  capPerDay: number;
  capPerWeek: number;
  tierCaps: Record<string, { perDay: number; perWeek: number }>;
  /** Quiet hours in Asia/Shanghai, [start, end), across midnight when start > end; equal = none. */
  quietStartHour: number;
  quietEndHour: number;
}

export const DEFAULT_REACH_POLICY: ReachPolicy = {
  windows: {
    message: { ms: 48 * 3600_000, messages: 5 },
    event: { ms: 60_000, messages: 3 },
    payment: { ms: 48 * 3600_000, messages: null },
  },
  massPerMonth: 4,
  wecomPerMonth: null,
  capPerDay: 2,
  capPerWeek: 5,
  tierCaps: { vip: { perDay: 1, perWeek: 3 } },
  quietStartHour: 22,
  quietEndHour: 8,
};

const SHANGHAI_OFFSET_MS = 8 * 3600_000; // China has no daylight saving time

/** The Shanghai calendar date of an instant, YYYY-MM-DD. */
export function shanghaiDay(at: Date): string {
  return new Date(at.getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10);
}

/** The Shanghai calendar month of an instant, YYYY-MM (WeChat counts monthly quotas in Beijing time). */
export function shanghaiMonth(at: Date): string {
  return shanghaiDay(at).slice(0, 7);
}

/** Weeks since the epoch, starting Monday 00:00 Shanghai. */
export function shanghaiWeek(at: Date): number {
  return Math.floor(((at.getTime() + SHANGHAI_OFFSET_MS) / 86_400_000 + 3) / 7);
}

export function daysInShanghaiMonth(at: Date): number {
  const local = new Date(at.getTime() + SHANGHAI_OFFSET_MS);
  return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth() + 1, 0)).getUTCDate();
}

export function inQuietHours(policy: Pick<ReachPolicy, 'quietStartHour' | 'quietEndHour'>, at: Date): boolean {
  const { quietStartHour: start, quietEndHour: end } = policy;
  if (start === end) return false;
  const hour = new Date(at.getTime() + SHANGHAI_OFFSET_MS).getUTCHours();
  return start > end ? hour >= start || hour < end : hour >= start && hour < end;
}

/** The first instant at or after `at` outside quiet hours: the quiet period's end hour, Shanghai time. */
export function nextAllowedTime(policy: Pick<ReachPolicy, 'quietStartHour' | 'quietEndHour'>, at: Date): Date {
  if (!inQuietHours(policy, at)) return at;
  const local = new Date(at.getTime() + SHANGHAI_OFFSET_MS);
  const endToday = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), policy.quietEndHour);
  const localEnd = local.getTime() < endToday ? endToday : endToday + 86_400_000;
  return new Date(localEnd - SHANGHAI_OFFSET_MS);
}

export function capsFor(policy: ReachPolicy, tier: string | undefined): { perDay: number; perWeek: number } {
  return (tier ? policy.tierCaps[tier] : undefined) ?? { perDay: policy.capPerDay, perWeek: policy.capPerWeek };
}
