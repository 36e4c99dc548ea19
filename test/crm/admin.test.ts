import { describe, expect, it } from 'vitest';
import { AuditEntry } from '../../src/audit/model.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff, type GivenStaff } from '../staff/support.js';
import { mobile, rid } from './support.js';

describe('crm: admin API', () => {
  const t = useTestApp();
  let salesA: GivenStaff;
  let salesB: GivenStaff;
  let admin: GivenStaff;
  const phones: string[] = [];
  const owned: Record<string, string[]> = {};

  async function givenCustomer(ownerStaffId: string, tier = 'standard') {
    const { crm } = t().deps;
    const phone = mobile();
    phones.push(phone);
    const { profileId } = await crm.identities.resolve({
      identities: [crm.identities.of.customerNo(`C${rid(5)}`)],
      source: 'ingest:erp',
      seed: { stage: 'customer', name: `客户${rid(2)}`, region: 'shanghai' },
    });
    await crm.profiles.update({
      profileId,
      patch: { ownerStaffId, phone: { number: phone, verified: false } },
      by: 'system',
    });
    if (tier !== 'standard') await crm.profiles.changeTier({ profileId, tier, reason: 'seed', by: 'system' });
    (owned[ownerStaffId] ??= []).push(profileId.toHexString());
    return profileId.toHexString();
  }

  it('a sales user sees only their own customers', async () => {
    salesA = await givenStaff(t(), ['sales'], { own: true });
    salesB = await givenStaff(t(), ['sales'], { own: true });
    admin = await givenStaff(t(), ['admin']);
    for (let i = 0; i < 3; i += 1) await givenCustomer(salesA.id);
    for (let i = 0; i < 2; i += 1) await givenCustomer(salesB.id, 'gold');
    const mine = await t().http.get('/admin/api/crm/profiles').set(bearer(salesA.accessToken));
    expect(mine.status).toBe(200);
    expect((mine.body.items as { id: string }[]).map((p) => p.id).sort()).toEqual([...owned[salesA.id]!].sort());
    // Filters cannot widen the scope.
    const widened = await t()
      .http.get(`/admin/api/crm/profiles?ownerStaffId=${salesB.id}`)
      .set(bearer(salesA.accessToken));
    expect(widened.body.items).toEqual([]);
    const all = await t().http.get('/admin/api/crm/profiles?limit=200').set(bearer(admin.accessToken));
    const ids = (all.body.items as { id: string }[]).map((p) => p.id);
    for (const id of [...owned[salesA.id]!, ...owned[salesB.id]!]) expect(ids).toContain(id);
    // Someone else's customer does not exist for them, to read or to write.
    const other = owned[salesB.id]![0]!;
    expect((await t().http.get(`/admin/api/crm/profiles/${other}`).set(bearer(salesA.accessToken))).status).toBe(404);
    const write = await t()
      .http.patch(`/admin/api/crm/profiles/${other}`)
      .set(bearer(salesA.accessToken))
      .send({ name: 'hijack' });
    expect(write.status).toBe(404);
    expect(
      (await t().http.get(`/admin/api/crm/profiles/${owned[salesA.id]![0]!}`).set(bearer(salesA.accessToken))).status,
    ).toBe(200);
  });

  it('the same scope applies at the service level (tiers, regions)', async () => {
    const { crm } = t().deps;
    const gold = await crm.profiles.search({
      query: {},
      scope: { staffId: admin.id, scope: { tiers: ['gold'] } },
      limit: 200,
    });
    expect(gold.profiles.length).toBeGreaterThanOrEqual(2);
    expect(gold.profiles.every((p) => p.tier === 'gold')).toBe(true);
    const nowhere = await crm.profiles.search({
      query: {},
      scope: { staffId: admin.id, scope: { regions: ['beijing'] } },
    });
    expect(nowhere.profiles).toEqual([]);
  });

  it('phones never appear unmasked in list responses, profile pages, exports or logs', async () => {
    const list = await t().http.get('/admin/api/crm/profiles?limit=200').set(bearer(admin.accessToken));
    const byPhone = await t().http.get(`/admin/api/crm/profiles?phone=${phones[0]!}`).set(bearer(admin.accessToken));
    expect(byPhone.body.items).toHaveLength(1);
    expect(byPhone.body.items[0].phone).toBe(`${phones[0]!.slice(0, 3)}****${phones[0]!.slice(-4)}`);
    const page = await t()
      .http.get(`/admin/api/crm/profiles/${byPhone.body.items[0].id}`)
      .set(bearer(admin.accessToken));
    const csv = await t()
      .http.get('/admin/api/crm/profiles/export?tier=gold')
      .set(bearer(admin.accessToken))
      .buffer(true);
    expect(csv.status).toBe(200);
    const text = csv.text ?? (csv.body as Buffer).toString('utf8');
    expect(text.split('\n')[0]).toBe('id,name,gender,region,phone,tier,stage,ownerStaffId,createdAt');
    expect(text.trim().split('\n')).toHaveLength(3);
    for (const phone of phones) {
      expect(JSON.stringify(list.body)).not.toContain(phone);
      expect(JSON.stringify(page.body)).not.toContain(phone);
      expect(text).not.toContain(phone);
      expect(t().logs.join('\n')).not.toContain(phone);
    }
    expect(await AuditEntry.countDocuments({ action: 'crm.profiles_export', actorId: admin.id })).toBe(1);
  });

  it('refuses strangers, missing permissions and bad input', async () => {
    expect((await t().http.get('/admin/api/crm/profiles')).status).toBe(401);
    const service = await givenStaff(t(), ['service']);
    expect((await t().http.get('/admin/api/crm/profiles/export').set(bearer(service.accessToken))).status).toBe(403);
    const bad = await t().http.get('/admin/api/crm/profiles?identity=x').set(bearer(admin.accessToken));
    expect(bad.status).toBe(400);
    const tier = await t()
      .http.post(`/admin/api/crm/profiles/${owned[salesA.id]![0]!}/tier`)
      .set(bearer(salesA.accessToken))
      .send({ tier: 'diamond', reason: 'x' });
    expect(tier.status).toBe(400);
    expect(tier.body.error.code).toBe('unknown_tier');
  });

  it('tier changes are recorded with their reason, and merges can be undone through the API', async () => {
    const [a, b] = owned[salesA.id]!;
    const tier = await t()
      .http.post(`/admin/api/crm/profiles/${a}/tier`)
      .set(bearer(salesA.accessToken))
      .send({ tier: 'vip', reason: 'AUM above 1M' });
    expect(tier.body.tier).toBe('vip');
    const history = await t().deps.crm.profiles.tierHistory(
      (await import('mongoose')).Types.ObjectId.createFromHexString(a!),
    );
    expect(history[0]).toMatchObject({ from: 'standard', to: 'vip', reason: 'AUM above 1M', by: salesA.id });
    // Sales may not merge; admin may, and may undo.
    expect(
      (
        await t()
          .http.post('/admin/api/crm/merges')
          .set(bearer(salesA.accessToken))
          .send({ sourceId: b, targetId: a, reason: 'dup' })
      ).status,
    ).toBe(403);
    const merged = await t()
      .http.post('/admin/api/crm/merges')
      .set(bearer(admin.accessToken))
      .send({ sourceId: b, targetId: a, reason: 'dup' });
    expect(merged.status).toBe(201);
    expect((await t().http.get(`/admin/api/crm/profiles/${b}`).set(bearer(admin.accessToken))).body.profile.id).toBe(a);
    const undo = await t().http.post(`/admin/api/crm/merges/${merged.body.id}/undo`).set(bearer(admin.accessToken));
    expect(undo.status).toBe(204);
    expect((await t().http.get(`/admin/api/crm/profiles/${b}`).set(bearer(admin.accessToken))).body.profile.id).toBe(b);
  });

  it('imports a CSV uploaded in chunks, with safe retries and a report', async () => {
    const http = t().http;
    const auth = bearer(salesA.accessToken);
    const created = await http
      .post('/admin/api/crm/imports')
      .set(auth)
      .send({ mapping: { 姓名: 'name', 手机: 'phone' }, kind: 'lead', dryRun: false });
    expect(created.status).toBe(201);
    const jobId = created.body.id;
    const [p1, p2] = [mobile(), mobile()];
    const chunk = (seq: number, data: string) =>
      http.post(`/admin/api/crm/imports/${jobId}/chunks`).set(auth).send({ seq, data });
    expect((await chunk(0, `姓名,手机\n甲,${p1}\n`)).body).toEqual({ received: 1, duplicate: false });
    expect((await chunk(0, `姓名,手机\n甲,${p1}\n`)).body).toEqual({ received: 1, duplicate: true });
    expect((await chunk(2, 'x')).status).toBe(409);
    await chunk(1, `乙,${p2}\n丙,bad\n`);
    await t().deps.crm.imports.run((await import('mongoose')).Types.ObjectId.createFromHexString(jobId as string));
    const report = await http.get(`/admin/api/crm/imports/${jobId}`).set(auth);
    expect(report.body).toMatchObject({ state: 'completed', counts: { rows: 3, created: 2, matched: 0, invalid: 1 } });
    expect(report.body.issues).toEqual([{ row: 3, outcome: 'invalid', reasons: ['phone: not a phone number'] }]);
    expect(t().logs.join('\n')).not.toContain(p1);
  });
});
