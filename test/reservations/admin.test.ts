import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import mongoose from 'mongoose';
import { claimCode, redeemCode, type IssuedCode } from '../../src/reservations/index.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from '../staff/support.js';

const t = useTestApp();
const HOUR = 3_600_000;

describe('reservation admin API', () => {
  it('creates a program, counts its codes, verifies at the counter once, revokes, and exports masked CSV', async () => {
    const manager = await givenStaff(t(), ['marketing']);
    const agent = await givenStaff(t(), ['service']);
    const http = t().http;
    const created = await http
      .post('/admin/api/reservations/programs')
      .set(bearer(manager.accessToken))
      .send({
        name: '专户产品B',
        quota: 5,
        issueFrom: new Date(Date.now() - HOUR).toISOString(),
        issueUntil: new Date(Date.now() + HOUR).toISOString(),
        redeemFrom: new Date(Date.now() - HOUR).toISOString(),
        redeemUntil: new Date(Date.now() + 24 * HOUR).toISOString(),
        issueMode: 'push',
      });
    expect(created.status).toBe(201);
    const programId = created.body.id as string;
    // Customers must exist in the CRM to be eligible (a program without rules takes any known customer).
    const db = t().deps;
    const profiles = [new Types.ObjectId(), new Types.ObjectId(), new Types.ObjectId()];
    await mongoose.connection
      .db!.collection('crm_profiles')
      .insertMany(
        profiles.map((_id) => ({ _id, tier: 'standard', stage: 'follower', source: 'test', attributes: {} })),
      );
    const codes: IssuedCode[] = [];
    for (const p of profiles)
      codes.push(await claimCode(db.reservations, { programId, profileId: p.toHexString(), via: 'admin' }));

    const verify = (orderRef: string) =>
      http
        .post('/admin/api/reservations/redeem')
        .set(bearer(agent.accessToken))
        .send({ code: codes[0]!.code, profileId: profiles[0]!.toHexString(), orderRef });
    expect((await verify('POS-1')).status).toBe(200);
    const second = await verify('POS-2');
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('code_already_redeemed');
    expect((await http.post('/admin/api/reservations/programs').set(bearer(agent.accessToken)).send({})).status).toBe(
      403,
    );

    const revoked = await http
      .post(`/admin/api/reservations/codes/${codes[1]!.codeId}/revoke`)
      .set(bearer(manager.accessToken))
      .send({ reason: 'duplicate account' });
    expect(revoked.status).toBe(204);
    await expect(
      redeemCode(db.reservations, {
        code: codes[1]!.code,
        channel: 'chat',
        profileId: profiles[1]!.toHexString(),
        actor: 'profile:x',
        idempotencyKey: 'k',
      }),
    ).rejects.toMatchObject({ code: 'code_revoked' });

    const stats = await http.get(`/admin/api/reservations/programs/${programId}`).set(bearer(manager.accessToken));
    expect(stats.body.stats).toMatchObject({ quota: 5, issued: 3, redeemed: 1, revoked: 1, remaining: 2 });

    const history = await http
      .get(`/admin/api/reservations/customers/${profiles[0]!.toHexString()}/codes`)
      .set(bearer(agent.accessToken));
    expect(history.body.items[0]).toMatchObject({ status: 'redeemed', outcome: { orderRef: 'POS-1' } });
    expect(JSON.stringify(history.body)).not.toContain(codes[0]!.code);

    const csv = await http
      .get(`/admin/api/reservations/programs/${programId}/export`)
      .set(bearer(manager.accessToken))
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => done(null, text));
      });
    expect(csv.status).toBe(200);
    const text = csv.body as string;
    expect(text.split('\n')[0]).toContain('codeId,masked,profileId,status');
    expect(text).toContain('redeemed');
    expect(text).toContain('revoked');
    for (const c of codes) expect(text).not.toContain(c.code);
  });
});
