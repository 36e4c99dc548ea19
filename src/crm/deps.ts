/**
 * What the CRM needs from the rest of the system: infrastructure, its settings, and three small ports
 * the integrator wires to the platform clients and the staff domain.
 */
import type { CrmConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import type { ScopeOf } from '../staff/index.js';
import type { PhoneVault } from './phone.js';

/** A follower's details as WeChat's user/info/batchget reports them (no nickname: WeChat stopped sending it). */
export interface FollowerInfo {
  openid: string;
  subscribed: boolean;
  unionid?: string;
  subscribeTime?: Date;
  subscribeScene?: string;
  qrScene?: string;
  tagIds?: number[];
  language?: string;
}

/** User-info enrichment (the OA client's user/info/batchget); called by a job, never on the callback path. */
export interface FollowerInfoSource {
  batchGet(account: string, openids: string[]): Promise<FollowerInfo[]>;
}

/** WeChat user tags of an official account (the OA client's tags API). */
export interface WechatTagSync {
  createTag(account: string, name: string): Promise<number>;
  tagUsers(account: string, wechatTagId: number, openids: string[]): Promise<void>;
  untagUsers(account: string, wechatTagId: number, openids: string[]): Promise<void>;
}

/** Staff audit log (the staff domain's): exports and merges are recorded there. */
export interface CrmAudit {
  record(entry: { actor: string; action: string; target?: string; details?: Record<string, unknown> }): Promise<void>;
}

/**
 * A caller's data scope (the staff domain's ScopeOf: staff id + { own?, regions?, tiers? }), applied inside
 * the CRM's queries; undefined means a system caller that sees every profile.
 */
export type ProfileScope = ScopeOf;

export interface CrmDeps {
  config: CrmConfig;
  logger: Logger;
  redis: Redis;
  phones: PhoneVault;
  followerInfo?: FollowerInfoSource;
  wechatTags?: WechatTagSync;
  audit?: CrmAudit;
  now: () => Date;
  /** Told after a tier change is recorded (the integrator publishes `crm.tier-changed` on the event bus). */
  onTierChanged?: (change: TierChanged) => void;
}

export interface TierChanged {
  profileId: string;
  from?: string;
  to: string;
}
