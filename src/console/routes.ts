/**
 * The staff console's static files (built by `npm run build:console` into console/dist) at /console.
 * index.html is `no-cache` (a new deploy is picked up at once); the hashed files under /console/assets are
 * immutable for a year. The console talks to the admin API only (/admin/api), like any other client.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import type { Context } from 'koa';

export const CONSOLE_DIST = fileURLToPath(new URL('../../console/dist', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

const ASSET = /^[A-Za-z0-9._-]{1,120}$/;

async function sendFile(ctx: Context, path: string, type: string, cacheControl: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return false;
  ctx.set('Cache-Control', cacheControl);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = type;
  ctx.length = info.size;
  ctx.body = createReadStream(path);
  return true;
}

export function consoleRoutes(options: { dist?: string } = {}): Router {
  const dist = options.dist ?? CONSOLE_DIST;
  const router = new Router();
  const index = async (ctx: Context) => {
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (!(await sendFile(ctx, join(dist, 'index.html'), 'text/html; charset=utf-8', 'no-cache'))) {
      ctx.status = 503;
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = 'The staff console is not built: run `npm run build:console` (npm start does it for you).';
    }
  };
  // The router is not strict about a trailing slash: one route, told apart by the exact path.
  router.get('/console', async (ctx) => (ctx.path === '/console' ? ctx.redirect('/console/') : index(ctx)));
  router.get('/console/assets/:file', async (ctx) => {
    const file = ctx.params.file ?? '';
    const type = TYPES[extname(file)];
    if (!ASSET.test(file) || file.startsWith('.') || !type) return; // 404
    await sendFile(ctx, join(dist, 'assets', file), type, 'public, max-age=31536000, immutable');
  });
  return router;
}
