import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { Profile } from '../../src/crm/profiles/model.js';
import { useTestApp } from '../support/app.js';
import { followerEvent, openid, rid } from './support.js';

describe('crm: auto-tagging rules', () => {
  const t = useTestApp();

  async function givenTags() {
    const { crm } = t().deps;
    const group = await crm.tags.createGroup({ name: `risk-${rid(3)}`, exclusive: true });
    const conservative = await crm.tags.create({ groupId: group._id, name: 'conservative' });
    const aggressive = await crm.tags.create({ groupId: group._id, name: 'aggressive' });
    return { group, conservative, aggressive };
  }

  it('a rule fires on a form answer: adds the tag, sets the attribute, and not on other answers', async () => {
    const { crm } = t().deps;
    const { conservative } = await givenTags();
    await crm.attributes.define({
      key: 'risk_level',
      label: 'Risk level',
      type: 'enum',
      allowedValues: ['low', 'high'],
    });
    await crm.rules.create({
      name: 'Q3=A means conservative',
      eventType: 'form.submitted',
      conditions: [
        { path: 'payload.formId', op: 'eq', value: 'risk-survey' },
        { path: 'payload.answers.q3', op: 'eq', value: 'A' },
      ],
      actions: [
        { type: 'add_tag', tagId: String(conservative._id) },
        { type: 'set_attribute', key: 'risk_level', value: 'low' },
      ],
      createdBy: 'admin',
    });
    const { profileId: p1 } = await crm.followers.record(followerEvent({ account: 'fund', openid: openid() }));
    const { profileId: p2 } = await crm.followers.record(followerEvent({ account: 'fund', openid: openid() }));
    const id1 = Types.ObjectId.createFromHexString(p1);
    const id2 = Types.ObjectId.createFromHexString(p2);
    const answer = (profileId: Types.ObjectId, q3: string) =>
      crm.timeline.record({
        profileId,
        type: 'form.submitted',
        at: new Date(),
        source: 'forms',
        payload: { formId: 'risk-survey', answers: { q3 } },
        dedupKey: `form:${rid()}`,
      });
    expect((await answer(id1, 'A')).rules).toEqual(['Q3=A means conservative']);
    expect((await answer(id2, 'B')).rules).toEqual([]);
    expect((await crm.tags.of(id1)).map((x) => x.name)).toEqual(['conservative']);
    expect(await crm.tags.of(id2)).toEqual([]);
    expect((await Profile.findById(id1).lean())?.attributes).toMatchObject({ risk_level: 'low' });
  });

  it('a retried event does not fire its rules again, and an exclusive group keeps one tag', async () => {
    const { crm } = t().deps;
    const { conservative, aggressive } = await givenTags();
    await crm.rules.create({
      name: `aggressive-${rid(2)}`,
      eventType: 'purchase',
      conditions: [{ path: 'payload.amountFen', op: 'gte', value: 1_000_000 }],
      actions: [{ type: 'add_tag', tagId: String(aggressive._id) }],
      createdBy: 'admin',
    });
    const { profileId } = await crm.followers.record(followerEvent({ account: 'fund', openid: openid() }));
    const id = Types.ObjectId.createFromHexString(profileId);
    await crm.tags.add({ profileId: id, tagId: conservative._id, source: 'staff:s1' });
    const event = {
      profileId: id,
      type: 'purchase',
      at: new Date(),
      source: 'ingest:shop',
      payload: { amountFen: 2_000_000 },
      dedupKey: `p:${rid()}`,
    };
    expect((await crm.timeline.record(event)).rules).toHaveLength(1);
    expect((await crm.timeline.record(event)).rules).toEqual([]);
    expect((await crm.tags.of(id)).map((x) => x.name)).toEqual(['aggressive']);
  });

  it('refuses a rule naming an unknown tag or an undeclared attribute', async () => {
    const { crm } = t().deps;
    await expect(
      crm.rules.create({
        name: 'bad',
        eventType: '*',
        conditions: [],
        actions: [{ type: 'add_tag', tagId: new Types.ObjectId().toHexString() }],
        createdBy: 'admin',
      }),
    ).rejects.toMatchObject({ code: 'unknown_tag' });
    await expect(
      crm.rules.create({
        name: 'bad',
        eventType: '*',
        conditions: [],
        actions: [{ type: 'set_attribute', key: 'nope', value: 1 }],
        createdBy: 'admin',
      }),
    ).rejects.toMatchObject({ code: 'invalid_attributes' });
  });
});
