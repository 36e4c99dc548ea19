/**
 * WeChat's side of a safe-mode callback, prepared for load: each push is a new text message from a
 * follower, encrypted with the bench account's EncodingAESKey and signed like WeChat does, so every request
 * runs the whole pipeline. Shared by the callback and red-envelope benchmarks.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createMessageCrypto, sha1Signature } from '../../src/platform/wechat/crypto.js';
import { cdata } from '../../src/platform/wechat/xml.js';
import { hasWrk, runWrk } from './wrk.js';

export const BENCH_ACCOUNT = {
  appid: 'wxb11529c136998cb6',
  token: 'benchtoken2024',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

/** The keyword rule the callback bench's service answers through the conversation engine. */
export const BENCH_KEYWORD = '基金净值';

/** The service's settings for the bench account in safe mode. */
export const BENCH_ACCOUNT_ENV = {
  WECHAT_TOKEN: BENCH_ACCOUNT.token,
  WECHAT_APPID: BENCH_ACCOUNT.appid,
  WECHAT_AES_KEY: BENCH_ACCOUNT.aesKey,
  WECHAT_MODE: 'safe',
};

const crypto = createMessageCrypto(BENCH_ACCOUNT.aesKey, BENCH_ACCOUNT.appid);
const runTag = randomBytes(4).toString('hex');
let msgSeq = 0n;

export interface Push {
  path: string;
  body: string;
}

/** A new text message (distinct MsgId) from `openid`, as WeChat would POST it in safe mode. */
export function textPush(openid: string, content: string): Push {
  msgSeq += 1n;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(Math.floor(Math.random() * 1e9));
  const xml = `<xml><ToUserName><![CDATA[gh_3a9f2b7c1d4e]]></ToUserName><FromUserName>${cdata(openid)}</FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>${cdata(content)}</Content><MsgId>${BigInt(`0x${runTag}`) * 10_000_000n + msgSeq}</MsgId></xml>`;
  const encrypt = crypto.encrypt(xml);
  const msgSignature = sha1Signature(BENCH_ACCOUNT.token, timestamp, nonce, encrypt);
  const signature = sha1Signature(BENCH_ACCOUNT.token, timestamp, nonce);
  return {
    path: `/wechat/callback?signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&encrypt_type=aes&msg_signature=${msgSignature}`,
    body: `<xml><ToUserName><![CDATA[gh_3a9f2b7c1d4e]]></ToUserName><Encrypt>${cdata(encrypt)}</Encrypt></xml>`,
  };
}

export interface LoadRun {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  total: number;
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

function loadWithWrk(url: string, seconds: number, connections: number, next: () => Push): LoadRun {
  const pushesFile = join(tmpdir(), `callback-pushes-${runTag}.tsv`);
  const scriptFile = join(tmpdir(), `callback-pushes-${runTag}.lua`);
  // More pushes than the run can send, so no message repeats (a repeat would hit the dedup fast path).
  const lines: string[] = [];
  for (let n = 0; n < seconds * 8000; n += 1) {
    const push = next();
    lines.push(`${push.path}\t${push.body}`);
  }
  writeFileSync(pushesFile, `${lines.join('\n')}\n`);
  writeFileSync(scriptFile, WRK_SCRIPT);
  const r = runWrk({ url: `${url}/`, seconds, connections, script: scriptFile, scriptArgs: [pushesFile] });
  if (r.requests > lines.length) throw new Error('wrk sent more requests than prepared pushes');
  return { rps: r.requestsPerSec, p50: r.p50Ms, p99: r.p99Ms, non2xx: r.non2xx, errors: r.errors, total: r.requests };
}

/**
 * Sends pushes for `seconds` over `connections`: as fast as it goes (wrk when installed, else autocannon),
 * or at `overallRate` requests/s (autocannon, open loop per connection).
 */
export async function loadPushes(options: {
  url: string;
  seconds: number;
  connections: number;
  next: () => Push;
  overallRate?: number;
}): Promise<LoadRun> {
  if (!options.overallRate && hasWrk())
    return loadWithWrk(options.url, options.seconds, options.connections, options.next);
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        setupRequest: (req) => ({ ...req, ...options.next() }),
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

/** CPU seconds (user + system) a process has used so far, from /proc (0 when unavailable). */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of /proc/PID/stat; counted from the state field (3) they sit at 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
