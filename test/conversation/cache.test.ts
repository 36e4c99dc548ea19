/**
 * Rules live in each process's memory: a staff change reaches another process through Redis pub/sub,
 * and actions registered by other domains answer rules and menu keys by name.
 */
import { describe, expect, it } from 'vitest';
import { createConversationCache } from '../../src/conversation/cache.js';
import { replies } from '../../src/gateway/index.js';
import { bearer, givenStaff } from '../staff/support.js';
import { useTestApp } from '../support/app.js';
import { eventually } from '../support/wait.js';

const t = useTestApp();

describe('conversation cache and actions', () => {
  it("reloads another process's rules through Redis pub/sub when staff change one", async () => {
    const { deps, http } = t();
    // A second process's cache: same database and Redis prefix, its own subscriber.
    const other = await createConversationCache({ redis: deps.redis, logger: deps.logger, accounts: ['default'] });
    try {
      expect(other.current().matcherOf('default').match('营业时间')).toBeUndefined();
      const auth = bearer((await givenStaff(t(), ['service'])).accessToken);
      const created = await http
        .post('/admin/api/conversation/rules')
        .set(auth)
        .send({
          name: 'hours',
          match: 'exact',
          pattern: '营业时间',
          answer: { action: 'reply', params: { text: '9:00-17:00' } },
        });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      // This process reloads before answering the API call; the other one on the pub/sub message.
      expect(deps.conversation.cache.current().matcherOf('default').match('营业时间')?.answer.name).toBe('hours');
      await eventually(() => other.current().matcherOf('default').match('营业时间'));

      const removed = await http.delete(`/admin/api/conversation/rules/${created.body.id as string}`).set(auth);
      expect(removed.status).toBe(204);
      await eventually(() => other.current().matcherOf('default').match('营业时间') === undefined || undefined);
    } finally {
      await other.close();
    }
  });

  it('runs an action another domain registered, from a rule, and refuses a second registration of a name', async () => {
    const { deps, http } = t();
    deps.conversation.actions.register('test.my_codes', (call) => replies.text(`codes of ${call.openid}`));
    expect(() => deps.conversation.actions.register('test.my_codes', () => undefined)).toThrow(/already/);
    const auth = bearer((await givenStaff(t(), ['marketing'])).accessToken);
    await http
      .post('/admin/api/conversation/rules')
      .set(auth)
      .send({ name: 'my codes', match: 'exact', pattern: '我的码', answer: { action: 'test.my_codes' } })
      .expect(201);
    const tested = await http
      .get('/admin/api/conversation/test')
      .query({ account: 'default', text: '我的码' })
      .set(auth);
    expect(tested.body).toMatchObject({ matched: true, answer: { action: 'test.my_codes' } });
    const controller = new AbortController();
    const reply = await deps.conversation.engine.respondToText(
      {
        account: 'default',
        openid: 'oCodes1',
        eventId: 'm1',
        signal: controller.signal,
        deadlineAt: Date.now() + 4000,
        log: deps.logger,
        profileId: () => Promise.resolve(undefined),
      },
      '我的码',
    );
    expect(reply).toEqual({ type: 'text', content: 'codes of oCodes1' });
  });
});
