import { createRecordingCustomerServiceSender } from '../../src/gateway/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { InboundAuditModel } from '../../src/gateway/model.js';
import type { WechatInboundEvent } from '../../src/gateway/index.js';
import { replies, type Reply } from '../../src/platform/wechat/replies.js';
import { createMessageCrypto, sha1Signature } from '../../src/platform/wechat/crypto.js';
import { parseXml, textOf, nodeOf, listOf, cdata } from '../../src/platform/wechat/xml.js';
import { useTestApp } from '../support/app.js';
import {
  ACCOUNT_SETTINGS,
  COMPAT_ACCOUNT,
  DEFAULT_ACCOUNT,
  OLD_AES_KEY,
  PLAIN_ACCOUNT,
  ROTATED_ACCOUNT,
  compatibleRequest,
  encryptedRequest,
  eventXml,
  nextMsgId,
  openReply,
  plainRequest,
  randomOpenid,
  safeRequest,
  sealed,
  textXml,
  type BuiltRequest,
} from '../support/wechat-callback.js';

const app = useTestApp(ACCOUNT_SETTINGS, {
  customerService: (infra) => createRecordingCustomerServiceSender(infra.logger),
});
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function post(req: BuiltRequest) {
  return app().http.post(req.path).set('Content-Type', 'text/xml').send(req.body);
}

/** Answers every message from `openid` with `reply`. */
function answerWith(openid: string, reply: Reply) {
  cleanups.push(app().deps.wechatHandlers.onAny((m) => (m.openid === openid ? reply : undefined)));
}

describe('URL verification (GET)', () => {
  it('answers echostr as plain text when the signature matches (default alias and named route)', async () => {
    const timestamp = '1714036504';
    const nonce = '1514711492';
    const signature = sha1Signature(DEFAULT_ACCOUNT.token, timestamp, nonce);
    for (const path of ['/wechat/callback', '/wechat/default/callback']) {
      const res = await app().http.get(path).query({ signature, timestamp, nonce, echostr: '4375120948345356249' });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.text).toBe('4375120948345356249');
    }
  });

  it('refuses a wrong signature with 401 invalid_signature', async () => {
    const res = await app().http.get('/wechat/plainacct/callback').query({
      signature: 'f464b24fc39322e44b38aa78f5edd27bd1441696',
      timestamp: '1714036504',
      nonce: '1',
      echostr: 'x',
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_signature');
    expect(res.text).not.toContain('"x"');
  });

  it('refuses missing parameters and unknown accounts', async () => {
    const missing = await app().http.get('/wechat/callback').query({ timestamp: '1', nonce: '1', echostr: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('missing_parameter');
    const unknown = await app()
      .http.get('/wechat/nosuch/callback')
      .query({ signature: 'a', timestamp: '1', nonce: '1' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_account');
  });
});

describe('plaintext mode', () => {
  it('answers a text message with a plaintext reply addressed back to the user', async () => {
    const openid = randomOpenid();
    answerWith(openid, replies.text('hi <there> ]]> & you'));
    const res = await post(plainRequest(PLAIN_ACCOUNT, textXml({ openid, to: 'gh_plain' })));
    expect(res.status).toBe(200);
    const reply = parseXml(res.text);
    expect(textOf(reply, 'ToUserName')).toBe(openid);
    expect(textOf(reply, 'FromUserName')).toBe('gh_plain');
    expect(textOf(reply, 'MsgType')).toBe('text');
    expect(textOf(reply, 'Content')).toBe('hi <there> ]]> & you');
  });

  it('answers "success" when no handler replies', async () => {
    const res = await post(plainRequest(PLAIN_ACCOUNT, textXml()));
    expect(res.status).toBe(200);
    expect(res.text).toBe('success');
  });

  it('refuses a wrong signature before any handler runs', async () => {
    let called = 0;
    cleanups.push(app().deps.wechatHandlers.onAny(() => void called++));
    const req = plainRequest(PLAIN_ACCOUNT, textXml());
    const res = await post({ ...req, path: req.path.replace(/signature=[0-9a-f]{40}/, `signature=${'0'.repeat(40)}`) });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_signature');
    expect(called).toBe(0);
    // Logged with the request id.
    const requestId = String(res.headers['x-request-id']);
    expect(app().logs.some((l) => l.includes(requestId) && l.includes('invalid_signature'))).toBe(true);
  });
});

describe('safe mode', () => {
  it('decrypts, dispatches, and answers an encrypted, signed reply', async () => {
    const openid = randomOpenid();
    answerWith(openid, replies.text('encrypted hello'));
    const req = safeRequest(DEFAULT_ACCOUNT, textXml({ openid }), { alias: true });
    const res = await post(req);
    expect(res.status).toBe(200);
    const envelope = parseXml(res.text);
    expect(textOf(envelope, 'Nonce')).toBe(req.nonce);
    expect(textOf(envelope, 'TimeStamp')).toMatch(/^\d+$/);
    const inner = parseXml(openReply(DEFAULT_ACCOUNT, res.text));
    expect(textOf(inner, 'Content')).toBe('encrypted hello');
    expect(textOf(inner, 'ToUserName')).toBe(openid);
  });

  it('refuses a plaintext push to a safe-mode account', async () => {
    const res = await post(plainRequest(DEFAULT_ACCOUNT, textXml()));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('encryption_required');
  });

  it('answers "success" unencrypted when there is nothing to say', async () => {
    const res = await post(safeRequest(DEFAULT_ACCOUNT, textXml()));
    expect(res.text).toBe('success');
  });
});

describe('compatible mode', () => {
  it('accepts the encrypted form and answers encrypted', async () => {
    const openid = randomOpenid();
    answerWith(openid, replies.text('compat'));
    const res = await post(compatibleRequest(COMPAT_ACCOUNT, textXml({ openid })));
    expect(res.status).toBe(200);
    expect(textOf(parseXml(openReply(COMPAT_ACCOUNT, res.text)), 'Content')).toBe('compat');
  });

  it('accepts the plaintext form and answers in plaintext', async () => {
    const openid = randomOpenid();
    answerWith(openid, replies.text('compat plain'));
    const res = await post(plainRequest(COMPAT_ACCOUNT, textXml({ openid })));
    expect(res.status).toBe(200);
    expect(textOf(parseXml(res.text), 'Content')).toBe('compat plain');
  });

  it('trusts the decrypted content over the plain copy', async () => {
    const openid = randomOpenid();
    let seen = '';
    cleanups.push(
      app().deps.wechatHandlers.onText((m) => {
        if (m.openid === openid) seen = m.content;
        return undefined;
      }),
    );
    const msgId = nextMsgId();
    const s = sealed(COMPAT_ACCOUNT, textXml({ openid, content: 'genuine', msgId }));
    const forgedPlain = textXml({ openid, content: 'forged', msgId });
    await post(
      encryptedRequest(
        COMPAT_ACCOUNT,
        s,
        forgedPlain.replace('</xml>', `<Encrypt>${cdata(s.encrypt)}</Encrypt></xml>`),
      ),
    );
    expect(seen).toBe('genuine');
  });
});

describe('key rotation', () => {
  it('decrypts with the previous key and answers with the key that worked', async () => {
    const openid = randomOpenid();
    answerWith(openid, replies.text('rotated'));
    const res = await post(safeRequest(ROTATED_ACCOUNT, textXml({ openid }), { aesKey: OLD_AES_KEY }));
    expect(res.status).toBe(200);
    expect(textOf(parseXml(openReply(ROTATED_ACCOUNT, res.text, OLD_AES_KEY)), 'Content')).toBe('rotated');
    expect(() => openReply(ROTATED_ACCOUNT, res.text)).toThrow();
  });

  it('uses the current key first', async () => {
    const openid = randomOpenid();
    answerWith(openid, replies.text('current'));
    const res = await post(safeRequest(ROTATED_ACCOUNT, textXml({ openid })));
    expect(textOf(parseXml(openReply(ROTATED_ACCOUNT, res.text)), 'Content')).toBe('current');
  });

  it('refuses a message under neither key', async () => {
    const res = await post(
      safeRequest(ROTATED_ACCOUNT, textXml(), { aesKey: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq' }),
    );
    expect(res.status).toBe(400);
    expect(['invalid_padding', 'invalid_length', 'appid_mismatch']).toContain(res.body.error.code);
  });
});

describe('each reply type', () => {
  const cases: Array<[string, Reply, (x: ReturnType<typeof parseXml>) => void]> = [
    ['text', replies.text('t'), (x) => expect(textOf(x, 'Content')).toBe('t')],
    ['image', replies.image('IMG1'), (x) => expect(textOf(nodeOf(x, 'Image')!, 'MediaId')).toBe('IMG1')],
    ['voice', replies.voice('VOI1'), (x) => expect(textOf(nodeOf(x, 'Voice')!, 'MediaId')).toBe('VOI1')],
    [
      'video',
      replies.video('VID1', { title: 'T', description: 'D' }),
      (x) => expect(nodeOf(x, 'Video')).toEqual({ MediaId: 'VID1', Title: 'T', Description: 'D' }),
    ],
    [
      'music',
      replies.music('THUMB', { title: 'song', musicUrl: 'http://m/1.mp3', hqMusicUrl: 'http://m/1hq.mp3' }),
      (x) =>
        expect(nodeOf(x, 'Music')).toEqual({
          Title: 'song',
          MusicUrl: 'http://m/1.mp3',
          HQMusicUrl: 'http://m/1hq.mp3',
          ThumbMediaId: 'THUMB',
        }),
    ],
    [
      'news',
      replies.news([
        { title: 'a', description: 'da', picUrl: 'http://p/a.jpg', url: 'http://u/a' },
        { title: 'b', url: 'http://u/b' },
      ]),
      // Answering a user's message: one article only.
      (x) => {
        expect(textOf(x, 'ArticleCount')).toBe('1');
        expect(listOf(nodeOf(x, 'Articles'), 'item')).toEqual([
          { Title: 'a', Description: 'da', PicUrl: 'http://p/a.jpg', Url: 'http://u/a' },
        ]);
      },
    ],
    [
      'transfer_customer_service',
      replies.transferToCustomerService('kf1@gh_test'),
      (x) => expect(textOf(nodeOf(x, 'TransInfo')!, 'KfAccount')).toBe('kf1@gh_test'),
    ],
  ];
  for (const [type, reply, check] of cases) {
    it(`renders a ${type} reply, encrypted in safe mode`, async () => {
      const openid = randomOpenid();
      answerWith(openid, reply);
      const res = await post(safeRequest(DEFAULT_ACCOUNT, textXml({ openid })));
      expect(res.status).toBe(200);
      const inner = parseXml(openReply(DEFAULT_ACCOUNT, res.text));
      expect(textOf(inner, 'MsgType')).toBe(type);
      expect(textOf(inner, 'ToUserName')).toBe(openid);
      check(inner);
    });
  }

  it('keeps up to 8 news articles when answering an event', async () => {
    const openid = randomOpenid();
    const articles = Array.from({ length: 8 }, (_, i) => ({ title: `t${i}`, url: `http://u/${i}` }));
    answerWith(openid, replies.news(articles));
    const res = await post(safeRequest(DEFAULT_ACCOUNT, eventXml('subscribe', { EventKey: '' }, openid)));
    const inner = parseXml(openReply(DEFAULT_ACCOUNT, res.text));
    expect(textOf(inner, 'ArticleCount')).toBe('8');
    expect(listOf(nodeOf(inner, 'Articles'), 'item')).toHaveLength(8);
  });

  it('refuses to build news with no article or more than 8', () => {
    expect(() => replies.news([])).toThrow(/at least one/);
    expect(() => replies.news(Array.from({ length: 9 }, (_, i) => ({ title: `t${i}` })))).toThrow(/at most 8/);
    expect(() => replies.text('')).toThrow(/empty/);
  });
});

describe('typed dispatch, events, audit', () => {
  it('routes events by name to their handler with typed fields', async () => {
    const openid = randomOpenid();
    const seen: string[] = [];
    cleanups.push(
      app().deps.wechatHandlers.onEvent('subscribe', (e) => {
        if (e.openid === openid) seen.push(`subscribe:${e.sceneId ?? '-'}`);
        return undefined;
      }),
      app().deps.wechatHandlers.onEvent('CLICK', (e) =>
        e.openid === openid ? replies.text(`menu ${e.key}`) : undefined,
      ),
    );
    await post(safeRequest(DEFAULT_ACCOUNT, eventXml('subscribe', { EventKey: 'qrscene_42', Ticket: 'TK' }, openid)));
    const res = await post(safeRequest(DEFAULT_ACCOUNT, eventXml('CLICK', { EventKey: 'V1001_TODAY' }, openid)));
    expect(seen).toEqual(['subscribe:42']);
    expect(textOf(parseXml(openReply(DEFAULT_ACCOUNT, res.text)), 'Content')).toBe('menu V1001_TODAY');
  });

  it('keeps an unknown type, logs it, stores it, and still answers', async () => {
    const openid = randomOpenid();
    const events: WechatInboundEvent[] = [];
    cleanups.push(app().deps.events.subscribe('wechat.inbound', (e) => void events.push(e)));
    const xml = eventXml('brand_new_event', { EventKey: 'k', Extra: 'x' }, openid);
    const res = await post(safeRequest(DEFAULT_ACCOUNT, xml));
    expect(res.text).toBe('success');
    await app().deps.events.idle();
    const mine = events.filter((e) => e.inbound.openid === openid);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.inbound).toMatchObject({ kind: 'event', event: 'unknown', eventName: 'brand_new_event' });
    expect(app().logs.some((l) => l.includes('unknown inbound type kept') && l.includes('brand_new_event'))).toBe(true);
    await app().deps.gatewayAudit.flush();
    const stored = await InboundAuditModel.findOne({ openid }).lean();
    expect(stored).toMatchObject({ account: 'default', kind: 'event', type: 'brand_new_event', encrypted: true });
    expect(stored!.xml).toBe(xml);
  });

  it('a failing handler or subscriber neither breaks the callback nor the next handler', async () => {
    const openid = randomOpenid();
    cleanups.push(
      app().deps.wechatHandlers.onText(() => {
        throw new Error('boom');
      }),
      app().deps.events.subscribe('wechat.inbound', () => Promise.reject(new Error('subscriber boom'))),
      app().deps.wechatHandlers.onAny((m) => (m.openid === openid ? replies.text('still here') : undefined)),
    );
    const res = await post(plainRequest(PLAIN_ACCOUNT, textXml({ openid })));
    expect(res.status).toBe(200);
    expect(textOf(parseXml(res.text), 'Content')).toBe('still here');
    await app().deps.events.idle();
    expect(app().logs.some((l) => l.includes('event subscriber failed'))).toBe(true);
  });
});

describe('bad input: 4xx with a code, never a handler', () => {
  let handled = 0;
  const count = () => {
    handled = 0;
    cleanups.push(app().deps.wechatHandlers.onAny(() => void handled++));
  };

  async function expectRefused(req: BuiltRequest, status: number, code: string, contentType = 'text/xml') {
    const res = await app().http.post(req.path).set('Content-Type', contentType).send(req.body);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
    expect(
      app().logs.some((l) => l.includes(String(res.headers['x-request-id'])) && l.includes('wechat callback refused')),
    ).toBe(true);
  }

  it('malformed XML', async () => {
    count();
    await expectRefused(plainRequest(PLAIN_ACCOUNT, '<xml><ToUserName>a</xml>'), 400, 'malformed_xml');
    await expectRefused(plainRequest(PLAIN_ACCOUNT, 'not xml at all'), 400, 'malformed_xml');
    await expectRefused(plainRequest(PLAIN_ACCOUNT, '<notxml><a>1</a></notxml>'), 400, 'malformed_xml');
    await expectRefused(plainRequest(PLAIN_ACCOUNT, ''), 400, 'malformed_xml');
    expect(handled).toBe(0);
  });

  it('XML with a DOCTYPE or entities (billion laughs, XXE)', async () => {
    count();
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><xml><Content>&lol2;</Content></xml>';
    const xxe = '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>';
    await expectRefused(plainRequest(PLAIN_ACCOUNT, laughs), 400, 'xml_doctype_refused');
    await expectRefused(plainRequest(PLAIN_ACCOUNT, xxe), 400, 'xml_doctype_refused');
    // Hidden inside the ciphertext too.
    await expectRefused(safeRequest(DEFAULT_ACCOUNT, xxe), 400, 'xml_doctype_refused');
    expect(handled).toBe(0);
  });

  it('a message without its header fields', async () => {
    count();
    await expectRefused(plainRequest(PLAIN_ACCOUNT, '<xml><Content>x</Content></xml>'), 400, 'invalid_message');
    expect(handled).toBe(0);
  });

  it('wrong msg_signature in safe mode', async () => {
    count();
    const req = safeRequest(DEFAULT_ACCOUNT, textXml());
    await expectRefused(
      { ...req, path: req.path.replace(/msg_signature=[0-9a-f]{40}/, `msg_signature=${'a'.repeat(40)}`) },
      401,
      'invalid_signature',
    );
    // The plain signature alone is not enough in safe mode.
    await expectRefused(
      { ...req, path: req.path.replace(/&msg_signature=[0-9a-f]{40}/, '') },
      400,
      'missing_parameter',
    );
    expect(handled).toBe(0);
  });

  it('a ciphertext for another appid', async () => {
    count();
    await expectRefused(
      safeRequest(DEFAULT_ACCOUNT, textXml(), { appid: 'wx9999999999999999' }),
      400,
      'appid_mismatch',
    );
    expect(handled).toBe(0);
  });

  /** A signed envelope around an arbitrary Encrypt value (the attacker knows the token, not the key). */
  function signedGarbage(encrypt: string): BuiltRequest {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = '12345';
    const s = {
      timestamp,
      nonce,
      encrypt,
      msgSignature: sha1Signature(DEFAULT_ACCOUNT.token, timestamp, nonce, encrypt),
    };
    return encryptedRequest(DEFAULT_ACCOUNT, s, `<xml><Encrypt>${cdata(encrypt)}</Encrypt></xml>`);
  }

  it('bad base64, bad ciphertext length, bad padding', async () => {
    count();
    await expectRefused(signedGarbage('%%%not-base64%%%'), 400, 'invalid_base64');
    await expectRefused(signedGarbage(Buffer.alloc(15, 1).toString('base64')), 400, 'invalid_ciphertext');
    // A block whose decrypted last byte is not valid padding: encrypt raw bytes ending in 0x00 under the real key.
    const { createCipheriv } = await import('node:crypto');
    const key = Buffer.from(`${DEFAULT_ACCOUNT.aesKey}=`, 'base64');
    const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
    cipher.setAutoPadding(false);
    const raw = Buffer.concat([cipher.update(Buffer.alloc(64, 0)), cipher.final()]).toString('base64');
    await expectRefused(signedGarbage(raw), 400, 'invalid_padding');
    await expectRefused(signedGarbage(''), 400, 'missing_encrypt');
    expect(handled).toBe(0);
  });

  it('a body over the limit (declared or streamed)', async () => {
    count();
    const big = textXml({ content: 'x'.repeat(70_000) });
    await expectRefused(plainRequest(PLAIN_ACCOUNT, big), 413, 'payload_too_large');
    expect(handled).toBe(0);
  });

  it('a timestamp outside the configured skew', async () => {
    count();
    // This app has skew checks off; build a second gateway view via a fresh app is heavy, so test the service.
    const { createCallbackGateway } = await import('../../src/gateway/pipeline.js');
    const config = { ...app().config, callback: { ...app().config.callback, maxSkewSeconds: 300 } };
    const gateway = createCallbackGateway({
      config,
      registry: app().deps.wechatHandlers,
      events: app().deps.events,
      dedup: {
        claim: () => Promise.reject(new Error('unreachable')),
        complete: async () => undefined,
        waitForAnswer: async () => undefined,
      },
      audit: app().deps.gatewayAudit,
      customerService: app().deps.customerService,
      metrics: app().deps.metrics,
    });
    const stale = plainRequest(PLAIN_ACCOUNT, textXml(), { timestamp: String(Math.floor(Date.now() / 1000) - 301) });
    const query = Object.fromEntries(new URL(`http://x${stale.path}`).searchParams);
    const account = config.wechat.accounts.find((a) => a.key === 'plainacct')!;
    const request = { account, query, requestId: 'r1', log: app().deps.logger, receivedAt: Date.now() };
    await expect(gateway.receive(request, stale.body)).rejects.toMatchObject({ code: 'timestamp_skew' });
    expect(() => gateway.verifyUrl({ ...request, query: { ...query, echostr: 'e' } })).toThrow(
      expect.objectContaining({ code: 'timestamp_skew' }) as Error,
    );
    expect(handled).toBe(0);
  });

  it('answers 503 dedup_unavailable (WeChat retries later) when Redis cannot be reached, without running a handler', async () => {
    count();
    const { createCallbackGateway } = await import('../../src/gateway/pipeline.js');
    const gateway = createCallbackGateway({
      config: app().config,
      registry: app().deps.wechatHandlers,
      events: app().deps.events,
      dedup: {
        claim: () => Promise.reject(new Error('redis down')),
        complete: async () => undefined,
        waitForAnswer: async () => undefined,
      },
      audit: app().deps.gatewayAudit,
      customerService: app().deps.customerService,
      metrics: app().deps.metrics,
    });
    const req = plainRequest(PLAIN_ACCOUNT, textXml());
    const query = Object.fromEntries(new URL(`http://x${req.path}`).searchParams);
    const account = app().config.wechat.accounts.find((a) => a.key === 'plainacct')!;
    await expect(
      gateway.receive({ account, query, requestId: 'r2', log: app().deps.logger, receivedAt: Date.now() }, req.body),
    ).rejects.toMatchObject({ kind: 'unavailable', code: 'dedup_unavailable' });
    expect(handled).toBe(0);
  });

  it('an unknown encrypt_type or repeated parameter', async () => {
    count();
    const req = plainRequest(PLAIN_ACCOUNT, textXml());
    await expectRefused({ ...req, path: `${req.path}&encrypt_type=rot13` }, 400, 'invalid_parameter');
    await expectRefused({ ...req, path: `${req.path}&nonce=2` }, 400, 'invalid_parameter');
    expect(handled).toBe(0);
  });
});

// Keeps the import of createMessageCrypto meaningful for readers: the test keys are valid WXBizMsgCrypt keys.
it('the test accounts use valid EncodingAESKeys', () => {
  for (const k of [DEFAULT_ACCOUNT.aesKey!, COMPAT_ACCOUNT.aesKey!, ROTATED_ACCOUNT.aesKey!, OLD_AES_KEY])
    expect(createMessageCrypto(k, 'wx1').receiveId).toBe('wx1');
});
