/** Small builders for CRM tests: random ids so tests never share rows. */
import { randomBytes } from 'node:crypto';
import type { FollowerEventInput } from '../../src/crm/index.js';

export const rid = (n = 8) => randomBytes(n).toString('hex');
export const openid = () => `o${rid(13)}`;
export const unionid = () => `u${rid(13)}`;
/** A random mainland mobile number (never shown in logs by the code under test). */
export const mobile = () => `13${Math.floor(100_000_000 + Math.random() * 899_999_999)}`;

let seq = 0;
export function followerEvent(
  input: Partial<FollowerEventInput> & Pick<FollowerEventInput, 'account' | 'openid'>,
): FollowerEventInput {
  seq += 1;
  return { eventId: `${rid()}-${seq}`, kind: 'subscribe', at: new Date(), ...input };
}
