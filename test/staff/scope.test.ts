/**
 * Data scopes applied inside queries. The CRM comes later, so a tiny customer collection and two demo
 * routes declared with the same adminRoute API stand in for it.
 */
import Koa from 'koa';
import mongoose, { Schema, Types } from 'mongoose';
import supertest from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError } from '../../src/infra/errors.js';
import { errorHandler } from '../../src/infra/http/error-handler.js';
import { createInFlight, requestContext } from '../../src/infra/http/request-context.js';
import {
  adminApi,
  adminRoute,
  findPage,
  IdParams,
  inScope,
  pageOf,
  PageQuery,
  scopeFilter,
  withinScope,
} from '../../src/staff/index.js';
import { useTestApp } from '../support/app.js';
import { bearer, givenStaff } from './support.js';

interface DemoCustomer {
  _id: Types.ObjectId;
  name: string;
  ownerStaffId: string;
  region: string;
  tier: string;
}
const DemoCustomerModel = mongoose.model<DemoCustomer>(
  'ScopeDemoCustomer',
  new Schema<DemoCustomer>({ name: String, ownerStaffId: String, region: String, tier: String }),
);
const View = z.object({ id: z.string(), name: z.string() });
const present = (d: Record<string, unknown>) => ({ id: String(d._id), name: String(d.name) });

const demoRoutes = [
  adminRoute(
    {
      method: 'get',
      path: '/demo-customers',
      permission: 'customer:read',
      summary: 'demo',
      tags: ['demo'],
      query: z.object({ ...PageQuery, region: z.string().max(32).optional() }).strict(),
      response: pageOf(View),
    },
    async (call) =>
      findPage(DemoCustomerModel, {
        filter: withinScope(call.query.region ? { region: call.query.region } : {}, call.principal),
        limit: call.query.limit,
        cursor: call.query.cursor,
        present,
      }),
  ),
  adminRoute(
    {
      method: 'get',
      path: '/demo-customers/:id',
      permission: 'customer:read',
      summary: 'demo',
      tags: ['demo'],
      params: IdParams,
      response: View,
    },
    async (call) => {
      const doc = await DemoCustomerModel.findOne(withinScope({ _id: call.params.id }, call.principal)).lean();
      if (!doc) throw new DomainError('not_found', 'customer_not_found', 'No such customer.');
      return present(doc as unknown as Record<string, unknown>);
    },
  ),
  adminRoute(
    { method: 'get', path: '/demo-leak', permission: 'customer:read', summary: 'demo', tags: ['demo'], response: View },
    async () => ({ id: 'x', name: 'y', passwordHash: '$argon2id$...' }),
  ),
];

describe('data scopes', () => {
  const t = useTestApp();
  let http: ReturnType<typeof supertest>;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const app = new Koa();
    app.use(requestContext(t().deps.logger, t().deps.metrics, createInFlight()));
    app.use(errorHandler());
    app.use(adminApi(t().deps, demoRoutes).routes());
    http = supertest(app.callback());
  });

  it('lets a sales member read their own customers and not another owner’s', async () => {
    const alice = await givenStaff(t(), ['sales']); // sales-only staff default to { own: true }
    const bob = await givenStaff(t(), ['sales']);
    const [a1, a2, b1] = await DemoCustomerModel.insertMany([
      { name: 'a1', ownerStaffId: alice.id, region: 'north', tier: 'gold' },
      { name: 'a2', ownerStaffId: alice.id, region: 'south', tier: 'silver' },
      { name: 'b1', ownerStaffId: bob.id, region: 'north', tier: 'gold' },
    ]);
    Object.assign(ids, { a1: a1!.id, b1: b1!.id });

    const mine = await http.get('/admin/api/demo-customers').set(bearer(alice.accessToken));
    expect(mine.status).toBe(200);
    expect((mine.body.items as Array<{ name: string }>).map((c) => c.name).sort()).toEqual(['a1', 'a2']);
    expect((await http.get(`/admin/api/demo-customers/${a2!.id}`).set(bearer(alice.accessToken))).status).toBe(200);

    const theirs = await http.get(`/admin/api/demo-customers/${b1!.id}`).set(bearer(alice.accessToken));
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe('customer_not_found');
  });

  it('limits a region-scoped member to the region, even when they ask for another', async () => {
    const north = await givenStaff(t(), ['marketing'], { regions: ['north'] });
    const all = await http.get('/admin/api/demo-customers').set(bearer(north.accessToken));
    expect((all.body.items as Array<{ name: string }>).map((c) => c.name).sort()).toEqual(['a1', 'b1']);
    const south = await http.get('/admin/api/demo-customers?region=south').set(bearer(north.accessToken));
    expect(south.body.items).toEqual([]);
  });

  it('gives an unrestricted member every customer, one cursor page at a time', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const first = await http.get('/admin/api/demo-customers?limit=2').set(bearer(admin.accessToken));
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await http
      .get(`/admin/api/demo-customers?limit=2&cursor=${first.body.nextCursor as string}`)
      .set(bearer(admin.accessToken));
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    const names = [...first.body.items, ...second.body.items].map((c: { name: string }) => c.name).sort();
    expect(names).toEqual(['a1', 'a2', 'b1']);
    const bad = await http.get('/admin/api/demo-customers?cursor=bm90LWEtY3Vyc29y').set(bearer(admin.accessToken));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_cursor');
  });

  it('sends only the fields the response schema names', async () => {
    const admin = await givenStaff(t(), ['admin']);
    const res = await http.get('/admin/api/demo-leak').set(bearer(admin.accessToken));
    expect(res.body).toEqual({ id: 'x', name: 'y' });
  });

  it('turns scopes into filters and checks single documents', () => {
    const staffId = new Types.ObjectId().toHexString();
    expect(scopeFilter({ staffId, scope: {} })).toEqual({});
    expect(scopeFilter({ staffId, scope: { own: true, regions: ['n'], tiers: ['gold'] } })).toEqual({
      ownerStaffId: staffId,
      region: { $in: ['n'] },
      tier: { $in: ['gold'] },
    });
    const asObjectId = scopeFilter({ staffId, scope: { own: true } }, { owner: 'ownerId', ownerType: 'objectId' });
    expect(String(asObjectId.ownerId)).toBe(staffId);
    expect(asObjectId.ownerId).toBeInstanceOf(Types.ObjectId);
    // A caller's condition on the same field cannot replace the scope's.
    expect(withinScope({ region: 'south' }, { staffId, scope: { regions: ['north'] } })).toEqual({
      $and: [{ region: 'south' }, { region: { $in: ['north'] } }],
    });
    const who = { staffId, scope: { own: true, tiers: ['gold'] } };
    expect(inScope(who, { ownerStaffId: staffId, tier: 'gold' })).toBe(true);
    expect(inScope(who, { ownerStaffId: new Types.ObjectId(staffId), tier: 'gold' })).toBe(true);
    expect(inScope(who, { ownerStaffId: 'someone-else', tier: 'gold' })).toBe(false);
    expect(inScope(who, { ownerStaffId: staffId, tier: 'silver' })).toBe(false);
    expect(inScope(who, { ownerStaffId: { $ne: null }, tier: 'gold' })).toBe(false);
  });
});
