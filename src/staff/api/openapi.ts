/**
 * The OpenAPI 3.1 document of the admin API, generated from the same zod schemas the routes parse with
 * (zod's own JSON Schema output, draft 2020-12, which OpenAPI 3.1 uses). Schemas named with
 * `.meta({ id: 'Staff' })` become shared components.
 */
import { z } from 'zod';
import { ErrorBody } from './schemas.js';
import { ADMIN_API_PREFIX, type AdminRoute } from './route.js';

type Json = Record<string, unknown>;

const ERROR_STATUSES: Record<string, string> = {
  '400': 'Invalid input (details.fields lists each bad field)',
  '401': 'Missing, expired or revoked access token',
  '403': 'The caller lacks the permission (permission_denied) or the action is refused',
  '404': "Not found (or outside the caller's data scope)",
  '409': 'Conflict with the current state',
  '429': 'Too many attempts',
};

/** JSON Schema of one zod schema, with its named sub-schemas moved into `components`. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output', components: Json): Json {
  const raw = z.toJSONSchema(schema, { io, unrepresentable: 'any', reused: 'inline' }) as Json;
  const { $schema: _drop, $defs, ...rest } = raw;
  const rewrite = (v: Json): Json =>
    JSON.parse(JSON.stringify(v).replaceAll('"#/$defs/', '"#/components/schemas/')) as Json;
  for (const [name, def] of Object.entries(($defs as Json | undefined) ?? {}))
    components[name] ??= rewrite(def as Json);
  return rewrite(rest);
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query', components: Json): Json[] {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input', components);
  const props = (js.properties as Record<string, Json> | undefined) ?? {};
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }));
}

export interface OpenApiOptions {
  publicBaseUrl: string;
}

export function buildOpenApiDocument(routes: readonly AdminRoute[], options: OpenApiOptions): Json {
  const components: Json = {};
  const paths: Record<string, Json> = {};
  for (const { def } of routes) {
    const path = `${ADMIN_API_PREFIX}${def.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
    const responses: Json = {};
    if (def.response)
      responses[String(def.status ?? 200)] = {
        description: 'Success',
        content: { 'application/json': { schema: jsonSchema(def.response, 'output', components) } },
      };
    else responses['204'] = { description: 'Done, no content' };
    const errorStatuses = Object.keys(ERROR_STATUSES).filter(
      (s) => def.permission !== 'public' || (s !== '403' && s !== '404'),
    );
    for (const s of errorStatuses)
      responses[s] = {
        description: ERROR_STATUSES[s],
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };

    const operation: Json = {
      operationId: `${def.method}${def.path.replace(/[:/{}-]+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase())}`,
      summary: def.summary,
      ...(def.description ? { description: def.description } : {}),
      tags: def.tags,
      'x-permission': def.permission,
      ...(def.audit ? { 'x-audit-action': def.audit.action } : {}),
      ...(def.permission === 'public' ? { security: [] } : {}),
      parameters: [...parameters(def.params, 'path', components), ...parameters(def.query, 'query', components)],
      ...(def.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(def.body, 'input', components) } },
            },
          }
        : {}),
      responses,
    };
    paths[path] = { ...(paths[path] ?? {}), [def.method]: operation };
  }
  components.Error = jsonSchema(ErrorBody, 'output', components);
  return {
    openapi: '3.1.0',
    info: {
      title: 'WeChat SCRM admin API',
      version: '1',
      description:
        'Staff-facing API. Sign in with POST /admin/api/auth/login, then send `Authorization: Bearer <accessToken>`. ' +
        'Each operation names the permission it needs (x-permission) and, for writes, the audit action it records. ' +
        'Lists take `limit` and an opaque `cursor` and answer `{ items, nextCursor }`.',
    },
    servers: [{ url: options.publicBaseUrl }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
