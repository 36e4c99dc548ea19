/**
 * Service notices to one customer (a reservation code issued, a payout arrived, a reminder): a message
 * template rendered for the account the customer follows, sent with the caller's idempotency key as
 * client_msg_id so a resend never reaches them twice. Marketing kinds also respect consent.
 */
import mongoose, { Types } from 'mongoose';
import type { Logger } from '../infra/logger.js';
import type { ReachLedger } from '../reach/index.js';
import type { TemplateSender } from './delivery.js';
import { renderTemplate, type MessageTemplate } from './templates.js';

export interface TemplateClient {
  sendTemplate(message: {
    touser: string;
    templateId: string;
    data: Record<string, string>;
    url?: string;
    clientMsgId?: string;
  }): Promise<{ msgId: string }>;
}

/** The push machinery's sender over the official-account clients. */
export function createClientTemplateSender(clients: (account: string) => TemplateClient): TemplateSender {
  return {
    send: ({ account, openid, templateId, data, url, clientMsgId }) =>
      clients(account).sendTemplate({
        touser: openid,
        templateId,
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.value])),
        ...(url ? { url } : {}),
        clientMsgId,
      }),
  };
}

export interface NoticeInput {
  profileId: string;
  kind: string;
  vars: Record<string, string | number | undefined>;
  /** Stable per notice: becomes client_msg_id (WeChat drops a repeat within 10 minutes). */
  idempotencyKey: string;
  url?: string;
  /**
   * The follower the notice is about (e.g. the one who claimed an envelope): sent there while they follow,
   * else to the account the customer follows by the usual preference.
   */
  to?: { account: string; openid: string };
}

export type NoticeResult = { sent: true; account: string; msgId: string } | { sent: false; reason: string };

export interface ServiceNotices {
  notify(input: NoticeInput): Promise<NoticeResult>;
}

export function createServiceNotices(deps: {
  templates: Map<string, MessageTemplate>;
  sender: TemplateSender;
  defaultAccount: string;
  logger: Logger;
  marketingAllowed(profileId: Types.ObjectId): Promise<boolean>;
  /** The profile and those merged into it: their followers are the customer's too (unmerged: itself). */
  family?(profileId: Types.ObjectId): Promise<Types.ObjectId[]>;
  /** Asked before each send: template notices are transactional unless the template is marketing. */
  reach?: Pick<ReachLedger, 'reserve' | 'release'>;
}): ServiceNotices {
  return {
    async notify(input) {
      const template = deps.templates.get(input.kind);
      if (!template) throw new Error(`no message template ${input.kind}`);
      if (!Types.ObjectId.isValid(input.profileId)) return { sent: false, reason: 'unknown_customer' };
      const profileId = new Types.ObjectId(input.profileId);
      if (template.marketing && !(await deps.marketingAllowed(profileId))) return { sent: false, reason: 'consent' };
      const db = mongoose.connection.db;
      if (!db) throw new Error('mongo is not connected');
      const followersOf = db.collection('crm_followers');
      const projection = { projection: { account: 1, openid: 1 } };
      const named = input.to
        ? await followersOf.findOne(
            { account: input.to.account, openid: input.to.openid, subscribed: true },
            projection,
          )
        : null;
      const family = named ? [] : ((await deps.family?.(profileId)) ?? [profileId]);
      const followers = named
        ? [named]
        : await followersOf
            .find(
              // One id by equality: FerretDB filters `$in` in its own process, after reading every follower.
              { profileId: family.length === 1 ? family[0] : { $in: family }, subscribed: true },
              projection,
            )
            .toArray();
      const follower = followers.find((f) => f.account === deps.defaultAccount) ?? followers[0];
      if (!follower) return { sent: false, reason: 'not_follower' };
      const account = String(follower.account);
      const rendered = renderTemplate(template, account, input.vars);
      // client_msg_id allows letters, digits and _-; a Mongo id or a hash fits.
      const clientMsgId = input.idempotencyKey.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64);
      const reachRequest = {
        account,
        openid: String(follower.openid),
        profileId: input.profileId,
        channel: 'template' as const,
        class: template.marketing ? ('marketing' as const) : ('transactional' as const),
        key: `notice:${clientMsgId}`,
      };
      const decision = await deps.reach?.reserve(reachRequest);
      if (decision && decision.verdict !== 'allow') return { sent: false, reason: `reach_${decision.reason}` };
      let msgId: string;
      try {
        ({ msgId } = await deps.sender.send({
          account,
          openid: String(follower.openid),
          templateId: rendered.templateId,
          data: rendered.data,
          ...(input.url ? { url: input.url } : {}),
          clientMsgId,
        }));
      } catch (err) {
        if (decision) await deps.reach?.release(reachRequest, decision);
        throw err;
      }
      deps.logger.info({ kind: input.kind, profileId: input.profileId, msgId }, 'service notice sent');
      return { sent: true, account, msgId };
    },
  };
}
