/** What the WeCom domain needs: its settings, storage, the corp clients and the CRM's public surface. */
import type { Crm } from '../crm/index.js';
import { DomainError } from '../infra/errors.js';
import type { AppConfig, WecomConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import type { WecomClient } from '../platform/wecom/index.js';

export interface WecomDeps {
  config: AppConfig['wecom'];
  redis: Redis;
  logger: Logger;
  clients: ReadonlyMap<string, WecomClient>;
  crm: Crm;
  now: () => Date;
  /** What other domains hold for a customer, shown on the staff sidebar (open red-envelope claims, codes). */
  customerExtras?: (profileId: string) => Promise<CustomerExtras>;
}

export interface CustomerExtras {
  /** Red-envelope claims whose payout is not final yet. */
  openClaims: { campaignName: string; amountFen: number; state: string; wonAt: Date }[];
  /** Reservation codes, masked: staff never see a code in full. */
  reservationCodes: { programName: string; masked: string; status: string; expiresAt: Date }[];
}

/** A configured corp by key (the default corp when no key is given). */
export function corpOf(deps: Pick<WecomDeps, 'config'>, key?: string): WecomConfig {
  const corp = deps.config.corps.find((c) => c.key === (key ?? deps.config.defaultCorp));
  if (!corp) throw new DomainError('not_found', 'unknown_corp', 'No such WeCom corp.');
  return corp;
}

/** The API client of a corp by key. */
export function clientOf(deps: Pick<WecomDeps, 'clients'>, corp: string): WecomClient {
  const client = deps.clients.get(corp);
  if (!client) throw new DomainError('not_found', 'unknown_corp', 'No such WeCom corp.');
  return client;
}
