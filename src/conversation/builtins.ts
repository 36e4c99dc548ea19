/**
 * Built-in actions: reply content, a service query through a configured provider, reminder preferences,
 * hand-off to a human agent inside service hours, the marketing opt-out, and phone verification.
 */
import { Types } from 'mongoose';
import { z } from 'zod';
import type { Crm } from '../crm/index.js';
import { isDomainError, isDuplicateKey } from '../infra/errors.js';
import { replies } from '../platform/wechat/replies.js';
import type { ActionRegistry } from './actions.js';
import type { ConversationCache } from './cache.js';
import type { Engine } from './engine.js';
import { inWindow } from './keywords/matcher.js';
import { ConversationHandoff } from './model.js';
import { ReplyContentSchema } from './schemas.js';
import type { PhoneVerification } from './verification.js';

const ReplyParams = z.union([
  z.object({ key: z.string().min(1) }).strict(),
  z.object({ content: ReplyContentSchema }).strict(),
  z.object({ text: z.string().min(1).max(2000) }).strict(),
]);
const QueryParams = z.object({ provider: z.string().min(1), query: z.string().min(1).max(200).optional() }).strict();
const ReminderParams = z
  .object({
    topic: z.string().regex(/^[a-z][a-z0-9_]{0,20}$/),
    subscribe: z.boolean(),
    label: z.string().max(20).optional(),
  })
  .strict();

/** The attribute holding a reminder preference (read by the push domain: `reminder_nav`, `reminder_trade`…). */
export const reminderAttribute = (topic: string) => `reminder_${topic}`;

export const BUILT_IN_ACTIONS = ['reply', 'service_query', 'reminder', 'handoff', 'opt_out', 'verify_phone'] as const;

export function registerBuiltInActions(
  registry: ActionRegistry,
  deps: { engine: Engine; cache: ConversationCache; crm: Crm; verification: PhoneVerification; now: () => Date },
): void {
  const { engine, cache, crm, verification, now } = deps;

  registry.register(
    'reply',
    async (call) => {
      const params = ReplyParams.parse(call.params);
      if ('text' in params) return engine.render({ type: 'text', text: params.text }, call);
      if ('content' in params) return engine.render(params.content, call);
      const content = cache.current().reply(call.account, params.key);
      if (!content) {
        call.log.warn({ key: params.key }, 'conversation: reply key not found');
        return undefined;
      }
      return engine.render(content, call);
    },
    'Answers with content, inline or a named reply ({ key } | { content } | { text })',
  );

  registry.register(
    'service_query',
    async (call) => {
      const params = QueryParams.parse(call.params);
      const provider = cache.current().provider(params.provider);
      if (!provider) return replies.text('该查询服务暂未开通。');
      return engine.serviceQuery(call, provider, params.query ?? call.text ?? '');
    },
    'Asks a business system through a configured provider ({ provider, query? })',
  );

  const declared = new Set<string>();
  registry.register(
    'reminder',
    async (call) => {
      const params = ReminderParams.parse(call.params);
      const profileId = await call.profileId();
      if (!profileId) return replies.text('正在为您建立会员档案，请稍后再试。');
      const key = reminderAttribute(params.topic);
      if (!declared.has(key)) {
        try {
          await crm.attributes.define({ key, label: `${params.label ?? params.topic}提醒`, type: 'boolean' });
        } catch (err) {
          if (!isDomainError(err) || err.code !== 'attribute_exists') throw err;
        }
        declared.add(key);
      }
      await crm.attributes.set({ profileId: new Types.ObjectId(profileId), values: { [key]: params.subscribe } });
      const label = params.label ?? params.topic;
      return replies.text(params.subscribe ? `已为您开通${label}提醒。` : `已为您取消${label}提醒。`);
    },
    'Turns a reminder preference on or off ({ topic, subscribe, label? })',
  );

  registry.register(
    'handoff',
    (call) => {
      const settings = cache.current().settings(call.account);
      const at = now();
      const open = inWindow(settings.serviceHours, at);
      // Recorded for staff (the hand-off list) without holding up the answer: the profile is looked up,
      // the record written, after the reply leaves; a retried message is the same record.
      void (async () => {
        const profileId = await call.profileId().catch(() => undefined);
        await ConversationHandoff.create({
          _id: `${call.account}:${call.eventId}`,
          account: call.account,
          openid: call.openid,
          ...(profileId ? { profileId } : {}),
          outcome: open ? 'transferred' : 'closed_hours',
          ...(open && settings.kfAccount ? { kfAccount: settings.kfAccount } : {}),
          at,
        });
      })().catch((err: unknown) => {
        if (!isDuplicateKey(err)) call.log.warn({ err }, 'conversation: hand-off not recorded');
      });
      if (open) return replies.transferToCustomerService(settings.kfAccount);
      return replies.text(settings.handoffClosedText);
    },
    'Hands the chat to a human agent inside service hours; a queue message outside them',
  );

  registry.register(
    'opt_out',
    async (call) => {
      const profileId = await call.profileId();
      if (profileId)
        await crm.consent.optOut({
          subject: { profileId: new Types.ObjectId(profileId) },
          channel: 'wechat',
          source: 'menu:opt_out',
          reason: 'opt-out action',
        });
      return replies.text('您已退订营销消息，我们将不再向您推送活动信息。');
    },
    'Withdraws WeChat marketing consent',
  );

  registry.register(
    'verify_phone',
    (call) => verification.start(call),
    'Starts phone verification: asks for the number, sends an SMS code, records the verified phone',
  );
}
