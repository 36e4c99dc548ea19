/**
 * Safe-mode text messages against POST /wechat/callback on one service process (pinned to CPU 1; the
 * load generator, autocannon in this process, on CPU 0). Every request is a fresh message: distinct
 * MsgId, encrypted and signed like WeChat does, so each one runs the whole pipeline (verify, decrypt,
 * parse, Redis dedup claim, dispatch, audit buffer, reply render + encrypt, dedup answer).
 * Two runs: as fast as it goes (max throughput), then a fixed 500 msg/s (latency at the target load).
 * Run: npx tsx bench/callback.ts   (or `npm run bench -- callback`)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import autocannon from 'autocannon';
import { createMessageCrypto, sha1Signature } from '../src/platform/wechat/crypto.js';
import { cdata } from '../src/platform/wechat/xml.js';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canPin, rssMb, startBenchService } from './lib/service.js';
import { hasWrk, runWrk } from './lib/wrk.js';

const ACCOUNT = {
  appid: 'wxb11529c136998cb6',
  token: 'benchtoken2024',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const crypto = createMessageCrypto(ACCOUNT.aesKey, ACCOUNT.appid);
const runTag = randomBytes(4).toString('hex');
let msgSeq = 0n;

/** One safe-mode push of a new text message: the URL (with its signatures) and the envelope body. */
export function nextPush(): { path: string; body: string } {
  msgSeq += 1n;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(Math.floor(Math.random() * 1e9));
  const xml = `<xml><ToUserName><![CDATA[gh_3a9f2b7c1d4e]]></ToUserName><FromUserName><![CDATA[obench${runTag}${msgSeq % 1000n}]]></FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[benchmark message ${msgSeq}]]></Content><MsgId>${BigInt(`0x${runTag}`) * 10_000_000n + msgSeq}</MsgId></xml>`;
  const encrypt = crypto.encrypt(xml);
  const msgSignature = sha1Signature(ACCOUNT.token, timestamp, nonce, encrypt);
  const signature = sha1Signature(ACCOUNT.token, timestamp, nonce);
  return {
    path: `/wechat/callback?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&encrypt_type=aes&msg_signature=${msgSignature}`,
    body: `<xml><ToUserName><![CDATA[gh_3a9f2b7c1d4e]]></ToUserName><Encrypt>${cdata(encrypt)}</Encrypt></xml>`,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (0 when unavailable). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of /proc/PID/stat; counted from the state field (3) they sit at 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

// wrk replays pushes prepared beforehand (each a new message), so the load generator spends its core on
// HTTP, not on encrypting and signing; autocannon builds each push on the fly (used for the paced run).
const WRK_SCRIPT = `
local reqs = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local path, body = line:match("^(%S+)\\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", path, { ["Content-Type"] = "text/xml" }, body)
  end
end
request = function()
  i = i + 1
  return reqs[((i - 1) % #reqs) + 1]
end
`;

function loadWithWrk(url: string, seconds: number, connections: number): Run {
  const dir = tmpdir();
  const pushesFile = join(dir, `callback-pushes-${runTag}.tsv`);
  const scriptFile = join(dir, `callback-pushes-${runTag}.lua`);
  // More pushes than the run can send, so no message repeats (a repeat would hit the dedup fast path).
  const lines: string[] = [];
  for (let n = 0; n < seconds * 8000; n += 1) {
    const push = nextPush();
    lines.push(`${push.path}\t${push.body}`);
  }
  writeFileSync(pushesFile, `${lines.join('\n')}\n`);
  writeFileSync(scriptFile, WRK_SCRIPT);
  const r = runWrk({ url: `${url}/`, seconds, connections, script: scriptFile, scriptArgs: [pushesFile] });
  if (r.requests > lines.length) throw new Error('wrk sent more requests than prepared pushes');
  return { rps: r.requestsPerSec, p50: r.p50Ms, p99: r.p99Ms, non2xx: r.non2xx, errors: r.errors, total: r.requests };
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  total: number;
}

async function load(url: string, seconds: number, connections: number, overallRate?: number): Promise<Run> {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        setupRequest: (req) => ({ ...req, ...nextPush() }),
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
  };
}

export async function benchCallback(): Promise<string> {
  // The load generator takes CPU 0; the service is pinned to CPU 1 by startBenchService.
  if (canPin()) spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
  const service = await startBenchService({
    entry: 'bench/lib/callback-server.ts',
    env: {
      PROCESS_ROLE: 'web',
      WECHAT_TOKEN: ACCOUNT.token,
      WECHAT_APPID: ACCOUNT.appid,
      WECHAT_AES_KEY: ACCOUNT.aesKey,
      WECHAT_MODE: 'safe',
    },
  });
  try {
    await load(service.url, 3, 20); // warm-up (JIT, connection pools)
    const cpuBefore = cpuSeconds(service.pid);
    const max = hasWrk() ? loadWithWrk(service.url, 10, 50) : await load(service.url, 10, 50);
    const cpuPerMessageUs = ((cpuSeconds(service.pid) - cpuBefore) / Math.max(1, max.total)) * 1e6;
    const paced = await load(service.url, 10, 20, 500);
    const rss = rssMb(service.pid);
    const row = (name: string, r: Run) =>
      `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.non2xx} | ${r.errors} | ${r.total} |`;
    return [
      '| load | msg/s (mean) | p50 ms | p99 ms | non-2xx | errors | messages |',
      '|---|---|---|---|---|---|---|',
      row('max (50 connections)', max),
      row('paced 500 msg/s (20 connections)', paced),
      '',
      `Service CPU per message at max load: ${cpuPerMessageUs.toFixed(0)} µs (user + system, from /proc), i.e. a ceiling of ` +
        `about ${(1e6 / Math.max(1, cpuPerMessageUs)).toFixed(0)} msg/s for one process on one uncontended core.`,
      '',
      `Safe-mode text messages, distinct MsgIds, valid msg_signature, each answered with an encrypted text reply. ` +
        `autocannon in the bench process (CPU 0), service pinned to CPU ${canPin() ? '1' : '(not pinned)'}, RSS ${rss} MB after the runs; ` +
        `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average at start ${os.loadavg()[0]!.toFixed(1)}.`,
    ].join('\n');
  } finally {
    await service.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchCallback());
}
