import { createRecordingCustomerServiceSender } from '../../src/gateway/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { isRecordingSender, type WechatInboundEvent } from '../../src/gateway/index.js';
import { InboundAuditModel } from '../../src/gateway/model.js';
import { replies } from '../../src/platform/wechat/replies.js';
import { parseXml, textOf } from '../../src/platform/wechat/xml.js';
import { useTestApp } from '../support/app.js';
import { eventually, hold } from '../support/wait.js';
import {
  ACCOUNT_SETTINGS,
  DEFAULT_ACCOUNT,
  PLAIN_ACCOUNT,
  eventXml,
  openReply,
  plainRequest,
  randomOpenid,
  safeRequest,
  textXml,
  type BuiltRequest,
} from '../support/wechat-callback.js';

const DEADLINE_MS = 1000;
const app = useTestApp(
  { ...ACCOUNT_SETTINGS, WECHAT_CALLBACK_DEADLINE_MS: String(DEADLINE_MS) },
  {
    customerService: (infra) => createRecordingCustomerServiceSender(infra.logger),
  },
);
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function post(req: BuiltRequest) {
  return app().http.post(req.path).set('Content-Type', 'text/xml').send(req.body);
}

function sender() {
  const s = app().deps.customerService;
  if (!isRecordingSender(s)) throw new Error('tests expect the recording customer-service sender');
  return s;
}

describe('dedup', () => {
  it('20 concurrent retries of one message have exactly one side effect and all get its reply', async () => {
    const openid = randomOpenid();
    let sideEffects = 0;
    const published: WechatInboundEvent[] = [];
    cleanups.push(
      app().deps.wechatHandlers.onText(async (m) => {
        if (m.openid !== openid) return undefined;
        sideEffects += 1;
        await hold(50);
        return replies.text(`reward #${sideEffects}`);
      }),
      app().deps.events.subscribe('wechat.inbound', (e) => {
        if (e.inbound.openid === openid) published.push(e);
      }),
    );
    const xml = textXml({ openid });
    // WeChat's retries carry fresh nonces and timestamps around the same message.
    const requests = Array.from({ length: 20 }, () => safeRequest(DEFAULT_ACCOUNT, xml));
    const responses = await Promise.all(requests.map(post));
    expect(sideEffects).toBe(1);
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      const envelope = parseXml(res.text);
      expect(textOf(envelope, 'Nonce')).toBe(requests[i]!.nonce);
      expect(textOf(parseXml(openReply(DEFAULT_ACCOUNT, res.text)), 'Content')).toBe('reward #1');
    }
    await app().deps.events.idle();
    expect(published).toHaveLength(1);
    await app().deps.gatewayAudit.flush();
    expect(await InboundAuditModel.countDocuments({ openid })).toBe(1);

    // A retry after the first answer gets the same answer, still without a second side effect.
    const late = await post(safeRequest(DEFAULT_ACCOUNT, xml));
    expect(textOf(parseXml(openReply(DEFAULT_ACCOUNT, late.text)), 'Content')).toBe('reward #1');
    expect(sideEffects).toBe(1);
  });

  it('dedups events by FromUserName + CreateTime + Event', async () => {
    const openid = randomOpenid();
    let clicks = 0;
    cleanups.push(
      app().deps.wechatHandlers.onEvent('CLICK', (e) => {
        if (e.openid === openid) clicks += 1;
        return undefined;
      }),
    );
    const xml = eventXml('CLICK', { EventKey: 'K1' }, openid);
    await Promise.all([post(plainRequest(PLAIN_ACCOUNT, xml)), post(plainRequest(PLAIN_ACCOUNT, xml))]);
    await post(plainRequest(PLAIN_ACCOUNT, xml));
    // A different key at the same second is a different click.
    await post(plainRequest(PLAIN_ACCOUNT, xml.replace('K1', 'K2')));
    expect(clicks).toBe(2);
  });

  it('the same MsgId from two users is two messages', async () => {
    let count = 0;
    const a = randomOpenid();
    const b = randomOpenid();
    cleanups.push(
      app().deps.wechatHandlers.onText((m) => {
        if (m.openid === a || m.openid === b) count += 1;
        return undefined;
      }),
    );
    await post(plainRequest(PLAIN_ACCOUNT, textXml({ openid: a, msgId: '777000777' })));
    await post(plainRequest(PLAIN_ACCOUNT, textXml({ openid: b, msgId: '777000777' })));
    expect(count).toBe(2);
  });
});

describe('the reply deadline', () => {
  it('answers "success" at the deadline and sends the late reply through the customer-service sender', async () => {
    const openid = randomOpenid();
    let aborted = false;
    let handlerDone = false;
    cleanups.push(
      app().deps.wechatHandlers.onText(async (m, ctx) => {
        if (m.openid !== openid) return undefined;
        ctx.signal.addEventListener('abort', () => (aborted = true));
        await hold(DEADLINE_MS + 600);
        handlerDone = true;
        return replies.text('sorry for the wait');
      }),
    );
    const started = Date.now();
    const res = await post(safeRequest(DEFAULT_ACCOUNT, textXml({ openid })));
    expect(res.text).toBe('success');
    // Answered at the deadline, before the handler finished (timing bounds kept loose for a busy CI box).
    expect(Date.now() - started).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
    expect(handlerDone).toBe(false);
    expect(aborted).toBe(true);
    const sent = await eventually(() => sender().sent.find((s) => s.openid === openid));
    expect(sent).toMatchObject({ account: 'default', reply: { type: 'text', content: 'sorry for the wait' } });
  });

  it('a retry during a slow handler waits, answers "success", and triggers nothing twice', async () => {
    const openid = randomOpenid();
    let runs = 0;
    cleanups.push(
      app().deps.wechatHandlers.onText(async (m) => {
        if (m.openid !== openid) return undefined;
        runs += 1;
        await hold(DEADLINE_MS * 2);
        return replies.text('late once');
      }),
    );
    const xml = textXml({ openid });
    const first = post(safeRequest(DEFAULT_ACCOUNT, xml));
    await hold(50);
    const retry = await post(safeRequest(DEFAULT_ACCOUNT, xml));
    expect(retry.text).toBe('success');
    expect((await first).text).toBe('success');
    await app().deps.gateway.idle();
    expect(runs).toBe(1);
    expect(sender().sent.filter((s) => s.openid === openid)).toHaveLength(1);
    // Later retries get the stored "success", not a second run.
    expect((await post(safeRequest(DEFAULT_ACCOUNT, xml))).text).toBe('success');
    expect(runs).toBe(1);
  });

  it('a handler that finishes in time answers directly, and nothing goes to the sender', async () => {
    const openid = randomOpenid();
    cleanups.push(
      app().deps.wechatHandlers.onText(async (m) => {
        if (m.openid !== openid) return undefined;
        await hold(DEADLINE_MS / 4);
        return replies.text('in time');
      }),
    );
    const res = await post(plainRequest(PLAIN_ACCOUNT, textXml({ openid })));
    expect(textOf(parseXml(res.text), 'Content')).toBe('in time');
    await app().deps.gateway.idle();
    expect(sender().sent.filter((s) => s.openid === openid)).toHaveLength(0);
  });
});
