/**
 * POST /api/events: business systems report customer events with their source's API key
 * (X-Api-Key, or Authorization: Bearer). 200 for a well-formed batch, each event with its own outcome.
 */
import Router from '@koa/router';
import { jsonBody, parse } from '../../infra/http/parse.js';
import type { Crm } from '../index.js';
import { IngestBatch } from './schemas.js';

export function ingestionRoutes(crm: Crm, options: { jsonBodyLimitBytes: number }): Router {
  const router = new Router({ prefix: '/api/events' });
  const readJson = jsonBody(options.jsonBodyLimitBytes);
  router.post('/', async (ctx) => {
    // The key is checked before the body is read: strangers do not get to make us parse megabytes.
    const bearer = /^Bearer (.+)$/i.exec(ctx.get('authorization'))?.[1];
    const source = await crm.ingestion.authenticate(ctx.get('x-api-key') || bearer);
    await readJson(ctx, async () => undefined);
    const body = parse(IngestBatch, ctx.request.body);
    ctx.body = await crm.ingestion.ingest({ source, events: body.events });
  });
  return router;
}
