/**
 * `npm run screenshots`: screenshots of the console's main screens (desktop and phone) and
 * of the H5 pages into docs/screenshots/, against a live service with storage and the sandbox — the same
 * harness as the browser tests (test/browser/screenshots.test.ts, which runs only with SCREENSHOTS=1).
 * Needs MONGO_URL (or a local MongoDB/FerretDB) and Redis, like the tests, and /usr/bin/chromium.
 */
import { spawnSync } from 'node:child_process';

const result = spawnSync(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', 'test/browser/screenshots.test.ts'],
  { stdio: 'inherit', env: { ...process.env, SCREENSHOTS: '1', APP_ENV: 'test' } },
);
process.exit(result.status ?? 1);
