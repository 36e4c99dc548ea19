import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { adminRoutes } from '../../src/app.js';
import { useTestApp } from '../support/app.js';

describe('the admin API document', () => {
  const t = useTestApp();

  it('validates against the OpenAPI 3.1 schema', async () => {
    const res = await t().http.get('/admin/api/openapi.json');
    expect(res.status).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(res.body as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The validator does catch a broken document (a parameter in a place OpenAPI 3 has no more).
    const broken = structuredClone(res.body) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    broken.paths['/admin/api/me']!.get!.parameters = [{ name: 'x', in: 'body', schema: {} }];
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('lists every registered admin route with its permission, and its audit action for writes', async () => {
    const doc = (await t().http.get('/admin/api/openapi.json')).body as {
      paths: Record<
        string,
        Record<string, { 'x-permission': string; 'x-audit-action'?: string; security?: unknown[] }>
      >;
    };
    const listed = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const registered = adminRoutes(t().deps).map(
      ({ def }) => `${def.method.toUpperCase()} /admin/api${def.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`,
    );
    expect([...listed].sort()).toEqual([...registered].sort());
    expect(doc.paths['/admin/api/staff/{id}/disable']!.post).toMatchObject({
      'x-permission': 'staff:manage',
      'x-audit-action': 'staff.disable',
    });
    expect(doc.paths['/admin/api/auth/login']!.post!.security).toEqual([]);
  });

  it('describes inputs from the same schemas the routes parse with', async () => {
    const doc = (await t().http.get('/admin/api/openapi.json')).body as {
      paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string }>; requestBody?: unknown }>>;
      components: { schemas: Record<string, unknown> };
    };
    const list = doc.paths['/admin/api/audit']!.get!;
    expect(list.parameters.map((p) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'cursor', 'actorId', 'action']),
    );
    expect(doc.paths['/admin/api/staff']!.post!.requestBody).toMatchObject({
      content: {
        'application/json': {
          schema: { required: expect.arrayContaining(['username', 'password', 'roles']), additionalProperties: false },
        },
      },
    });
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Error', 'Staff', 'TokenPair']));
  });

  it('serves a self-contained docs page', async () => {
    const res = await t().http.get('/admin/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('/admin/api/openapi.json');
    expect(res.text).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/);
  });
});
