/**
 * WeChat's side of the callback, against a minimal receiver written here from crypto.ts alone (not the
 * gateway): signed and encrypted pushes, the 5-second rule with a slow receiver, replies verified into
 * the inbox, plaintext and compatible modes, platform events, and the control API that drives it all.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMessageCrypto, sha1Signature, signaturesEqual } from '../../src/platform/wechat/crypto.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { SandboxUsageError, type SandboxWechatAccount } from '../../src/sandbox/wechat/index.js';
import { eventually } from '../support/wait.js';

const AES = 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj';
// Roomy: the machine is shared; only the "never answers" case shortens it (a slower machine only helps it).
const TIMEOUT_MS = 1500;

interface Received {
  query: URLSearchParams;
  body: string;
  /** The decrypted (or plain) XML. */
  xml: string;
  field(name: string): string | undefined;
}

type Behaviour = (
  r: Received,
  attempt: number,
) => { delayMs?: number; reply?: string; forge?: boolean; plaintext?: boolean };

/** A receiver as small as the protocol allows: verify, decrypt, answer (encrypted in safe mode). */
class Receiver {
  readonly received: Received[] = [];
  behaviour: Behaviour = () => ({});
  private server!: Server;
  url = '';

  constructor(
    private readonly account: () => SandboxWechatAccount,
    private readonly verifyFailures: string[] = [],
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body, delayMs }) =>
          setTimeout(() => {
            res.statusCode = status;
            res.end(body);
          }, delayMs),
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callback`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: string; delayMs: number }> {
    const acct = this.account();
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const q = (k: string) => query.get(k) ?? '';
    if (!signaturesEqual(sha1Signature(acct.token, q('timestamp'), q('nonce')), q('signature'))) {
      this.verifyFailures.push('signature');
      return { status: 401, body: '', delayMs: 0 };
    }
    if (req.method === 'GET') return { status: 200, body: q('echostr'), delayMs: 0 };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const crypto = acct.encodingAESKey ? createMessageCrypto(acct.encodingAESKey, acct.appid) : undefined;
    let xml = body;
    if (q('encrypt_type') === 'aes') {
      const encrypt = /<Encrypt><!\[CDATA\[(.*?)\]\]><\/Encrypt>/.exec(body)?.[1] ?? '';
      if (!signaturesEqual(sha1Signature(acct.token, q('timestamp'), q('nonce'), encrypt), q('msg_signature'))) {
        this.verifyFailures.push('msg_signature');
        return { status: 401, body: '', delayMs: 0 };
      }
      xml = crypto!.decrypt(encrypt);
    }
    const field = (name: string) =>
      new RegExp(`<${name}>(?:<!\\[CDATA\\[(.*?)\\]\\]>|([^<]*))</${name}>`)
        .exec(xml)
        ?.slice(1)
        .find((v) => v !== undefined);
    const received: Received = { query, body, xml, field };
    this.received.push(received);
    const attempt = this.received.filter(
      (r) =>
        r.field('MsgId') === field('MsgId') &&
        r.field('CreateTime') === field('CreateTime') &&
        r.field('Event') === field('Event'),
    ).length;
    const { delayMs = 0, reply, forge, plaintext } = this.behaviour(received, attempt);
    if (reply === undefined) return { status: 200, body: 'success', delayMs };
    if (q('encrypt_type') !== 'aes' || plaintext) return { status: 200, body: reply, delayMs };
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = q('nonce');
    const encrypted = crypto!.encrypt(reply);
    const signature = forge ? '0'.repeat(40) : sha1Signature(acct.token, timestamp, nonce, encrypted);
    return {
      status: 200,
      body: `<xml><Encrypt><![CDATA[${encrypted}]]></Encrypt><MsgSignature><![CDATA[${signature}]]></MsgSignature><TimeStamp>${timestamp}</TimeStamp><Nonce><![CDATA[${nonce}]]></Nonce></xml>`,
      delayMs,
    };
  }
}

function textReply(r: Received, content: string): string {
  return `<xml><ToUserName><![CDATA[${r.field('FromUserName')}]]></ToUserName><FromUserName><![CDATA[${r.field('ToUserName')}]]></FromUserName><CreateTime>${Math.floor(Date.now() / 1000)}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content></xml>`;
}

let sandbox: Sandbox;
const receivers: Receiver[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ wechat: { callbackTimeoutMs: TIMEOUT_MS, templateFinishDelayMs: 5 } });
  // Warm up fetch, the XML parser and the crypto once, so the first test's timing is not the JIT's.
  const warm = await given();
  await warm.follower.subscribe();
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await sandbox.close();
});

let n = 0;
/** A fresh account pointed at a fresh receiver. */
async function given(mode: SandboxWechatAccount['mode'] = 'safe') {
  n += 1;
  const key = `cb${n}`;
  const receiver = new Receiver(() => account);
  await receiver.start();
  receivers.push(receiver);
  const account = sandbox.wechat.addAccount({
    key,
    appid: `wx${randomBytes(8).toString('hex')}`,
    secret: 'sandbox-secret',
    token: `tok${n}`,
    encodingAESKey: mode === 'plain' ? undefined : AES,
    originalId: `gh_cb${n}`,
    mode,
    callbackUrl: receiver.url,
  });
  return { key, account, receiver, follower: sandbox.wechat.follower(key) };
}

describe('pushes in safe mode', () => {
  it('a subscribe is signed and encrypted; the encrypted welcome lands in the inbox', async () => {
    const { key, account, receiver, follower } = await given();
    receiver.behaviour = (r) => ({ reply: r.field('Event') === 'subscribe' ? textReply(r, '欢迎关注') : undefined });
    const result = await follower.subscribe({ scene: 'ADD_SCENE_SEARCH' });

    expect(result).toMatchObject({
      mode: 'safe',
      reply: 'message',
      attempts: [{ attempt: 1, outcome: 'answered', status: 200 }],
    });
    const [push] = receiver.received;
    expect(push!.query.get('encrypt_type')).toBe('aes');
    expect(push!.query.get('openid')).toBe(follower.openid);
    expect(push!.body).toMatch(/^<xml><ToUserName><!\[CDATA\[gh_cb\d+\]\]><\/ToUserName><Encrypt>/);
    expect(push!.body).not.toContain('subscribe');
    expect(push!.field('Event')).toBe('subscribe');
    expect(push!.field('ToUserName')).toBe(account.originalId);
    expect(sandbox.wechat.inbox(key, follower.openid)).toMatchObject([
      {
        channel: 'passive',
        msgtype: 'text',
        content: { Content: '欢迎关注' },
        inReplyTo: 'subscribe',
        text: '欢迎关注',
      },
    ]);
  });

  it('a text message carries a MsgId; the reply is tied to it', async () => {
    const { receiver, follower } = await given();
    await follower.subscribe();
    receiver.behaviour = (r) => ({
      reply: r.field('MsgType') === 'text' ? textReply(r, `you said ${r.field('Content')}`) : undefined,
    });
    const result = await follower.send('你好');
    const msgId = receiver.received.at(-1)!.field('MsgId');
    expect(msgId).toMatch(/^\d+$/);
    expect(result.inbox).toMatchObject({ content: { Content: 'you said 你好' }, inReplyTo: msgId });
  });

  it('menu clicks, views, location reports and QR scans arrive as the right events', async () => {
    const { key, receiver, follower } = await given();
    const qr = await fetchQr(key);
    await follower.subscribe({ ticket: qr.ticket });
    await follower.click('MENU_KEY');
    await follower.view('https://example.com/page');
    await follower.location({ latitude: 23.137466, longitude: 113.352425, precision: 119.385 });
    await follower.scan(qr.ticket);
    const events = receiver.received.map((r) => [r.field('Event'), r.field('EventKey')]);
    expect(events).toEqual([
      ['subscribe', `qrscene_${qr.scene}`],
      ['CLICK', 'MENU_KEY'],
      ['VIEW', 'https://example.com/page'],
      ['LOCATION', undefined],
      ['SCAN', qr.scene],
    ]);
    expect(receiver.received[0]!.field('Ticket')).toBe(qr.ticket);
    expect(receiver.received[3]!.xml).toContain('<Latitude>23.137466</Latitude>');
    expect(follower.snapshot()).toMatchObject({
      subscribed: true,
      subscribeScene: 'ADD_SCENE_QR_CODE',
      qrSceneStr: qr.scene,
    });
  });

  it('answering "success" leaves the inbox empty', async () => {
    const { follower } = await given();
    expect(await follower.subscribe()).toMatchObject({ reply: 'none' });
    expect(follower.inbox()).toEqual([]);
  });

  it('a reply with a forged signature is refused and never reaches the follower', async () => {
    const { receiver, follower } = await given();
    receiver.behaviour = (r) => ({ reply: textReply(r, 'forged'), forge: true });
    const result = await follower.subscribe();
    expect(result).toMatchObject({ reply: 'invalid', problem: expect.stringMatching(/MsgSignature/) });
    expect(follower.inbox()).toEqual([]);
  });

  it('a plaintext reply in safe mode is refused', async () => {
    const { follower, receiver } = await given();
    receiver.behaviour = (r) => ({ reply: textReply(r, 'plain'), plaintext: true });
    expect(await follower.subscribe()).toMatchObject({ reply: 'invalid', problem: /encrypted reply/ });
    expect(follower.inbox()).toEqual([]);
  });
});

describe("WeChat's 5-second rule", () => {
  it('a slow first answer is retried; the follower gets one reply, not two', async () => {
    const { receiver, follower } = await given();
    await follower.subscribe();
    receiver.behaviour = (r, attempt) => ({
      delayMs: attempt === 1 ? TIMEOUT_MS + 150 : 0,
      reply: textReply(r, `reply #${attempt}`),
    });
    const result = await follower.send('slow please');
    expect(result.attempts.map((a) => a.outcome)).toEqual(['timeout', 'answered']);
    const texts = receiver.received.filter((r) => r.field('MsgType') === 'text');
    expect(texts).toHaveLength(2);
    expect(texts[0]!.field('MsgId')).toBe(texts[1]!.field('MsgId'));
    expect(follower.inbox()).toMatchObject([{ content: { Content: 'reply #2' } }]);
  });

  it('gives up after three retries when the server never answers in time', async () => {
    const { receiver, follower } = await given();
    sandbox.wechat.settings.callbackTimeoutMs = 250;
    receiver.behaviour = () => ({ delayMs: 400 });
    const result = await follower.subscribe().finally(() => {
      sandbox.wechat.settings.callbackTimeoutMs = TIMEOUT_MS;
    });
    expect(result.attempts.map((a) => a.outcome)).toEqual(['timeout', 'timeout', 'timeout', 'timeout']);
    expect(result.reply).toBe('unanswered');
    await eventually(() => receiver.received.length === 4);
    expect(new Set(receiver.received.map((r) => r.field('CreateTime'))).size).toBe(1);
  });
});

describe('plaintext and compatible modes', () => {
  it('plaintext: readable XML, signature only, plaintext reply accepted', async () => {
    const { receiver, follower } = await given('plain');
    receiver.behaviour = (r) => ({ reply: textReply(r, 'hi there') });
    const result = await follower.subscribe();
    expect(receiver.received[0]!.query.has('encrypt_type')).toBe(false);
    expect(receiver.received[0]!.body).toContain('<Event><![CDATA[subscribe]]></Event>');
    expect(result).toMatchObject({ mode: 'plain', reply: 'message' });
    expect(follower.inbox()).toHaveLength(1);
  });

  it('compatible: plain fields and Encrypt together; an encrypted reply is accepted', async () => {
    const { receiver, follower } = await given('compatible');
    receiver.behaviour = (r) => ({ reply: textReply(r, 'both') });
    const result = await follower.subscribe();
    expect(receiver.received[0]!.body).toContain('<Event><![CDATA[subscribe]]></Event>');
    expect(receiver.received[0]!.body).toContain('<Encrypt>');
    expect(result.reply).toBe('message');
  });
});

describe('platform events and rules', () => {
  it('a template send is followed by TEMPLATESENDJOBFINISH on the callback', async () => {
    const { key, receiver, follower } = await given();
    await follower.subscribe();
    const t = sandbox.wechat.addTemplate(key, { title: 'x', keywords: ['thing1'] });
    const token = await stableToken(key);
    const sent = (await post(`/cgi-bin/message/template/send?access_token=${token}`, {
      touser: follower.openid,
      template_id: t.templateId,
      data: { thing1: { value: 'ok' } },
    })) as { msgid: number };
    const finish = await eventually(() => receiver.received.find((r) => r.field('Event') === 'TEMPLATESENDJOBFINISH'));
    expect(finish.field('MsgID')).toBe(String(sent.msgid));
    expect(finish.field('Status')).toBe('success');
  });

  it('an unfollowed user can no longer write; the unsubscribe event was pushed', async () => {
    const { receiver, follower } = await given();
    await follower.subscribe();
    await follower.unsubscribe();
    expect(receiver.received.map((r) => r.field('Event'))).toEqual(['subscribe', 'unsubscribe']);
    expect(() => follower.send('hello?')).toThrow(SandboxUsageError);
  });

  it('checks the callback URL the way WeChat does (GET with echostr)', async () => {
    const { key } = await given();
    expect(await sandbox.wechat.verifyCallbackUrl(key)).toMatchObject({ ok: true, status: 200 });
  });
});

describe('control API', () => {
  it('drives a follower and reads the inbox over HTTP', async () => {
    const { key, receiver } = await given();
    receiver.behaviour = (r) => ({ reply: r.field('MsgType') === 'text' ? textReply(r, 'pong') : undefined });
    const base = `${sandbox.url}/_control/wechat/accounts/${key}/followers/oRehearsal0000000000000000001`;
    const act = (body: unknown) =>
      fetch(`${base}/actions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    expect((await act({ action: 'text', content: 'ping' })).status).toBe(409); // not following yet
    expect((await act({ action: 'subscribe' })).status).toBe(200);
    const res = await act({ action: 'text', content: 'ping' });
    expect(await res.json()).toMatchObject({ reply: 'message', attempts: [{ outcome: 'answered' }] });
    const inbox = (await (await fetch(`${base}/inbox`)).json()) as { inbox: Array<{ content: unknown }> };
    expect(inbox.inbox).toMatchObject([{ content: { Content: 'pong' } }]);
    const since = await (await fetch(`${base}/inbox?since=${Number.MAX_SAFE_INTEGER}`)).json();
    expect(since).toEqual({ inbox: [] });

    expect((await act({ action: 'dance' })).status).toBe(400);
    const unknown = await fetch(`${sandbox.url}/_control/wechat/accounts/nobody/followers/o1/inbox`);
    expect(unknown.status).toBe(404);
    const snapshot = await (await fetch(base)).json();
    expect(snapshot).toMatchObject({ subscribed: true, windows: { message: { left: 5 } } });
  });

  it('adds templates, revokes tokens and sets quotas over HTTP', async () => {
    const { key } = await given();
    const control = (method: string, path: string, body?: unknown) =>
      fetch(`${sandbox.url}/_control/wechat/accounts/${key}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const t = await (await control('POST', '/templates', { title: '通知', keywords: ['thing1'] })).json();
    expect(t).toMatchObject({ title: '通知', keywords: ['thing1'] });
    const token = await stableToken(key);
    expect(await (await control('POST', '/revoke-tokens')).json()).toEqual({ revoked: 1 });
    expect(await get(`/cgi-bin/tags/get?access_token=${token}`)).toMatchObject({ errcode: 40001 });
    expect((await control('PUT', '/quota', { path: '/cgi-bin/tags/get', limit: 0 })).status).toBe(204);
    expect(await get(`/cgi-bin/tags/get?access_token=${await stableToken(key)}`)).toMatchObject({ errcode: 45009 });
    expect(await (await control('GET', '/calls')).json()).toMatchObject({ calls: { '/cgi-bin/stable_token': 2 } });
  });
});

async function post(path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${sandbox.wechatBase}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return res.json();
}
async function get(path: string): Promise<unknown> {
  return (await fetch(`${sandbox.wechatBase}${path}`)).json();
}
async function stableToken(key: string): Promise<string> {
  const a = sandbox.wechat.account(key);
  const got = (await post('/cgi-bin/stable_token', {
    grant_type: 'client_credential',
    appid: a.appid,
    secret: a.secret,
  })) as { access_token: string };
  return got.access_token;
}
async function fetchQr(key: string): Promise<{ ticket: string; scene: string }> {
  const scene = `poster${n}`;
  const got = (await post(`/cgi-bin/qrcode/create?access_token=${await stableToken(key)}`, {
    action_name: 'QR_LIMIT_STR_SCENE',
    action_info: { scene: { scene_str: scene } },
  })) as { ticket: string };
  return { ticket: got.ticket, scene };
}

describe('configuration', () => {
  it("mirrors the service's configured accounts, pushing to the gateway route", async () => {
    const { sandboxAccountsFrom } = await import('../../src/sandbox/wechat/index.js');
    const { testConfig } = await import('../support/app.js');
    const config = testConfig();
    const [mirror] = sandboxAccountsFrom(config.wechat.accounts, 'http://127.0.0.1:3000/');
    expect(mirror).toMatchObject({
      key: 'default',
      appid: config.wechat.accounts[0]!.appid,
      token: 'pamtest',
      mode: 'safe',
      callbackUrl: 'http://127.0.0.1:3000/wechat/default/callback',
    });
  });
});
