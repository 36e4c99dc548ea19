import { describe, expect, it } from 'vitest';
import { TimelineEvent } from '../../src/crm/timeline/model.js';
import { Profile } from '../../src/crm/profiles/model.js';
import { useTestApp } from '../support/app.js';
import { mobile, rid } from './support.js';

describe('crm: POST /api/events', () => {
  const t = useTestApp();
  let apiKey = '';
  let sourceName = '';

  const post = (body: unknown, key = apiKey) =>
    t()
      .http.post('/api/events')
      .set('X-Api-Key', key)
      .send(body as object);

  it('refuses a request without a valid API key', async () => {
    const created = await t().deps.crm.ingestion.createSource({ name: `shop-${rid(3)}`, createdBy: 'admin' });
    apiKey = created.apiKey;
    sourceName = created.name;
    const events = [{ idempotencyKey: rid(), type: 'signup', customer: { customerNo: 'C1' } }];
    expect((await t().http.post('/api/events').send({ events })).status).toBe(401);
    const wrong = await post({ events }, `crm_${'x'.repeat(32)}`);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_api_key');
    // Bearer works as well as X-Api-Key.
    const bearer = await t().http.post('/api/events').set('Authorization', `Bearer ${apiKey}`).send({ events });
    expect(bearer.status).toBe(200);
  });

  it('rejects bad events one by one with reasons and keeps the good ones', async () => {
    const goodKey = rid();
    const res = await post({
      events: [
        {
          idempotencyKey: goodKey,
          type: 'purchase',
          amountFen: 19900,
          customer: { customerNo: `C${rid(4)}` },
          payload: { sku: 'A1' },
        },
        { idempotencyKey: rid(), type: 'purchase', customer: { customerNo: 'C2' } },
        { idempotencyKey: 'short', type: 'signup', customer: {} },
        { idempotencyKey: rid(), type: 'signup', customer: { phone: '12345' } },
        { idempotencyKey: rid(), type: 'signup', customer: { customerNo: 'C3' }, $where: '1' },
        'not an object',
      ],
    });
    expect(res.status).toBe(200);
    expect((res.body.results as { status: string }[]).map((r) => r.status)).toEqual([
      'accepted',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
    ]);
    expect(res.body.results[1].errors).toEqual([{ path: 'amountFen', message: expect.stringContaining('amountFen') }]);
    expect((res.body.results[2].errors as { path: string }[]).map((e) => e.path).sort()).toEqual([
      'customer',
      'idempotencyKey',
    ]);
    expect(res.body.results[3].errors[0].path).toBe('customer.phone');
    expect(await TimelineEvent.countDocuments({ dedupKey: { $regex: goodKey } })).toBe(1);
    // A purchase makes the new lead a customer.
    const profile = await Profile.findById(res.body.results[0].profileId).lean();
    expect(profile).toMatchObject({ stage: 'customer', source: `ingest:${sourceName}` });
  });

  it('answers 400 for a malformed batch', async () => {
    expect((await post({ events: [] })).status).toBe(400);
    expect((await post({ nope: 1 })).status).toBe(400);
    const tooMany = Array.from({ length: 501 }, () => ({}));
    expect((await post({ events: tooMany })).status).toBe(400);
  });

  it('repeated idempotency keys write once, also under concurrency', async () => {
    const key = rid();
    const event = {
      idempotencyKey: key,
      type: 'renewal',
      customer: { customerNo: `C${rid(4)}` },
      payload: { plan: 'gold' },
    };
    const first = await post({ events: [event, event] });
    expect((first.body.results as { status: string }[]).map((r) => r.status)).toEqual(['accepted', 'duplicate']);
    const concurrentKey = rid();
    const same = { ...event, idempotencyKey: concurrentKey };
    const answers = await Promise.all(Array.from({ length: 10 }, () => post({ events: [same] })));
    const statuses = answers.map((a) => (a.body.results as { status: string }[])[0]!.status);
    expect(statuses.filter((s) => s === 'accepted')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(9);
    expect(await TimelineEvent.countDocuments({ dedupKey: { $regex: concurrentKey } })).toBe(1);
    expect(new Set(answers.map((a) => (a.body.results as { eventId: string }[])[0]!.eventId)).size).toBe(1);
  });

  it('unknown identities create one lead profile, resolved again by any of its identities', async () => {
    const phone = mobile();
    const customerNo = `C${rid(4)}`;
    const a = await post({
      events: [
        {
          idempotencyKey: rid(),
          type: 'signup',
          customer: { phone, customerNo },
          profile: { name: '王小明', region: 'shanghai' },
        },
      ],
    });
    const profileId = a.body.results[0].profileId;
    expect(await Profile.findById(profileId).lean()).toMatchObject({
      stage: 'lead',
      name: '王小明',
      region: 'shanghai',
    });
    const byPhone = await post({
      events: [{ idempotencyKey: rid(), type: 'custom', name: 'visit', customer: { phone } }],
    });
    const byNo = await post({
      events: [{ idempotencyKey: rid(), type: 'custom', name: 'visit', customer: { customerNo } }],
    });
    expect(byPhone.body.results[0].profileId).toBe(profileId);
    expect(byNo.body.results[0].profileId).toBe(profileId);
    // The phone is stored encrypted and shown masked; it never reaches the logs.
    const stored = await Profile.findById(profileId).lean();
    expect(stored?.phone?.masked).toBe(`${phone.slice(0, 3)}****${phone.slice(-4)}`);
    expect(JSON.stringify(stored)).not.toContain(phone);
    expect(t().logs.join('\n')).not.toContain(phone);
  });

  it('a deactivated source is refused at once', async () => {
    const { crm } = t().deps;
    const s = await crm.ingestion.createSource({ name: `old-${rid(3)}`, createdBy: 'admin' });
    const event = { idempotencyKey: rid(), type: 'signup', customer: { customerNo: 'C9' } };
    expect((await post({ events: [event] }, s.apiKey)).status).toBe(200);
    await crm.ingestion.deactivateSource((await import('mongoose')).Types.ObjectId.createFromHexString(s.id));
    expect((await post({ events: [event] }, s.apiKey)).status).toBe(401);
  });
});
