/**
 * `npm run bench [-- name ...]`: runs the project's benchmarks against 127.0.0.1 and rewrites their
 * sections in BENCHMARKS.md (between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`), each stamped
 * with the date, the machine and the command that reproduces it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { benchCallback } from './callback.js';
import { benchAdminAuth } from './admin-auth.js';
import { benchCrmImport } from './crm-import.js';
import { benchHealthz } from './healthz.js';
import { benchKeywords } from './keywords.js';
import { benchReach } from './reach.js';
import { benchRedEnvelopes } from './redenvelope.js';
import { benchReservations } from './reservations.js';
import { benchWechatClient } from './wechat-client.js';
import { benchPay } from './pay.js';
import { benchPush } from './push.js';
import { benchAudienceEstimate } from './audience-estimate.js';
import { ROOT } from './lib/service.js';

interface Bench {
  name: string;
  title: string;
  run(): Promise<string>;
}

const BENCHES: Bench[] = [
  { name: 'healthz', title: 'HTTP stack: GET /healthz', run: benchHealthz },
  { name: 'wechat-client', title: 'Official-account client against the sandbox', run: benchWechatClient },
  { name: 'callback', title: 'WeChat callback gateway: safe-mode text messages', run: benchCallback },
  { name: 'pay', title: 'WeChat Pay: callback verification and signed transfer calls', run: benchPay },
  { name: 'admin-auth', title: 'Staff authentication: GET /admin/api/me and sign-in', run: benchAdminAuth },
  { name: 'crm-import', title: 'CRM: streaming CSV import (100k rows)', run: () => benchCrmImport() },
  {
    name: 'reservations',
    title: 'Reservation codes: redemptions through the business-system API',
    run: benchReservations,
  },
  {
    name: 'redenvelope',
    title: 'Red envelopes: claims through the full chat path',
    run: benchRedEnvelopes,
  },
  { name: 'keywords', title: 'Conversation: keyword matching over 5,000 rules', run: benchKeywords },
  { name: 'reach', title: 'Reach ledger: soak of 100k interactions and sends, two workers, recount', run: benchReach },
  {
    name: 'push',
    title: 'Tiered push to 200,000 followers through the sandbox (rate limit lifted)',
    run: () => benchPush(),
  },
  {
    name: 'audience-estimate',
    title: 'Audience size estimates on 200,000 profiles',
    run: () => benchAudienceEstimate(),
  },
];

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const selected = wanted.length > 0 ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
if (selected.length === 0) {
  console.error(`no such benchmark; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

const file = join(ROOT, 'BENCHMARKS.md');
let doc = readFileSync(file, 'utf8');
const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
let failed = 0;

for (const bench of selected) {
  console.error(`[bench] ${bench.name}…`);
  let body: string;
  try {
    body = await bench.run();
  } catch (err) {
    failed += 1;
    body = `**Failed on this run:** ${err instanceof Error ? err.message : String(err)}`;
  }
  const section = [
    `<!-- bench:${bench.name} -->`,
    `### ${bench.title}`,
    '',
    `${new Date().toISOString().slice(0, 10)} · ${machine} · \`npm run bench -- ${bench.name}\``,
    '',
    body,
    `<!-- /bench:${bench.name} -->`,
  ].join('\n');
  const pattern = new RegExp(`<!-- bench:${bench.name} -->[\\s\\S]*?<!-- /bench:${bench.name} -->`);
  doc = pattern.test(doc) ? doc.replace(pattern, section) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, doc);
  console.log(body);
}
process.exit(failed > 0 ? 1 : 0);
