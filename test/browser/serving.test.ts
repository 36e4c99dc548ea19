/**
 * How the web faces are served: the console's cache headers (index.html revalidated on every load, hashed
 * assets immutable), nothing outside console/dist reachable, and the page weight of each H5 page and of the
 * console (HTML + JS + CSS, gzip) under the 150 KB budget. Prints the weights for BENCHMARKS.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { approveCampaign, createCampaign, startCampaign } from '../../src/campaigns/redenvelope/index.js';
import { CONSOLE_DIST } from '../../src/console/routes.js';
import { givenFollower, useLive } from '../support/live.js';
import { ensureConsoleBuilt, WECHAT_UA } from './support.js';

const live = useLive({}, { pay: true });
const BUDGET = 150 * 1024;
const gz = (body: string | Buffer) => gzipSync(body, { level: 6 }).length;

describe('the console and the H5 pages over HTTP', () => {
  beforeAll(() => ensureConsoleBuilt());

  it('serves index.html no-cache and hashed assets immutable, and nothing else', async () => {
    const { url } = live();
    const bare = await fetch(`${url}/console`, { redirect: 'manual' });
    expect(bare.status).toBe(302);
    expect(bare.headers.get('location')).toBe('/console/');
    const index = await fetch(`${url}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const assets = [...html.matchAll(/\/console\/assets\/[A-Za-z0-9._-]+/g)].map((m) => m[0]);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      const res = await fetch(`${url}${asset}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    }
    for (const path of [
      '/console/assets/missing.js',
      '/console/assets/..%2Findex.html',
      '/console/assets/.source-hash',
    ])
      expect((await fetch(`${url}${path}`)).status).toBe(404);
  });

  it('keeps each H5 page and the console under 150 KB compressed', async () => {
    const l = live();
    const { app, sandbox, url } = l;
    const campaign = await createCampaign(
      {
        name: '页面重量',
        accounts: ['default'],
        startAt: new Date(Date.now() - 60_000),
        endAt: new Date(Date.now() + 3_600_000),
        budgetFen: 1_000,
        prize: { kind: 'fixed', amountFen: 66, count: 10 },
        entries: ['h5'],
      },
      'marketer-1',
    );
    await approveCampaign(campaign._id, 'manager-1');
    await startCampaign(app.deps.redis, campaign._id);
    await givenFollower(l, 'oPageWeight00001');
    const start = await fetch(`${url}/h5/oauth/start?next=/h5/red-envelopes`, { redirect: 'manual' });
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const code = sandbox.wechat.oauthCode('default', 'oPageWeight00001', 'snsapi_base');
    const signedIn = await fetch(`${url}/h5/oauth/callback?code=${code}&state=${state}`, {
      headers: { accept: 'application/json' },
    });
    const { token } = (await signedIn.json()) as { token: string };
    const headers = { authorization: `Bearer ${token}`, 'user-agent': WECHAT_UA };

    const weights: Record<string, number> = {};
    for (const [name, path] of [
      ['h5 my red envelopes', '/h5/red-envelopes'],
      ['h5 campaign landing', `/h5/campaigns/${campaign._id}`],
      ['h5 my referrals', '/h5/referrals'],
    ] as const) {
      const res = await fetch(`${url}${path}`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      // Self-contained: inline CSS and script, no other request (the JS-SDK loads only for a confirm button).
      weights[name] = gz(await res.text());
    }
    const dist = [
      join(CONSOLE_DIST, 'index.html'),
      ...readdirSync(join(CONSOLE_DIST, 'assets')).map((f) => join(CONSOLE_DIST, 'assets', f)),
    ];
    weights['console (index + JS + CSS)'] = dist.reduce((sum, file) => sum + gz(readFileSync(file)), 0);
    console.log(`[page weight, gzip bytes] ${JSON.stringify(weights)}`);
    for (const size of Object.values(weights)) expect(size).toBeLessThan(BUDGET);
  });
});
