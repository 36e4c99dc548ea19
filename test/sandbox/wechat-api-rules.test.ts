/** The sandbox's own platform rules, checked over raw HTTP (no client in between). */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ wechat: { massFinishDelayMs: 1 } });
});
afterAll(async () => {
  await sandbox.close();
});

let n = 0;
function givenAccount() {
  n += 1;
  const appid = `wx${randomBytes(8).toString('hex')}`;
  sandbox.wechat.addAccount({ key: `r${n}`, appid, secret: 'rules-secret', token: 'rulestoken' });
  return { key: `r${n}`, appid };
}
const post = async (path: string, body: unknown) =>
  (await fetch(`${sandbox.wechatBase}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<
    Record<string, unknown>
  >;
const get = async (path: string) =>
  (await fetch(`${sandbox.wechatBase}${path}`)).json() as Promise<Record<string, unknown>>;

describe('tokens', () => {
  it('stable_token: same token while valid; force_refresh ends the old one, at most once per 30 s', async () => {
    const { appid } = givenAccount();
    const ask = (force = false) =>
      post('/cgi-bin/stable_token', {
        grant_type: 'client_credential',
        appid,
        secret: 'rules-secret',
        force_refresh: force,
      });
    const a = await ask();
    expect(a).toMatchObject({ expires_in: 7200 });
    expect((await ask()).access_token).toBe(a.access_token);
    const b = await ask(true);
    expect(b.access_token).not.toBe(a.access_token);
    expect(await get(`/cgi-bin/tags/get?access_token=${String(a.access_token)}`)).toMatchObject({ errcode: 40001 });
    expect(await ask(true)).toMatchObject({ errcode: 45011 });
    expect(
      await post('/cgi-bin/stable_token', { grant_type: 'client_credential', appid, secret: 'wrong' }),
    ).toMatchObject({
      errcode: 40125,
    });
    // In its last 5 minutes a new token is handed out; the old one keeps working until it expires.
    sandbox.clock.advance((7200 - 299) * 1000);
    try {
      const c = await ask();
      expect(c.access_token).not.toBe(b.access_token);
      expect(await get(`/cgi-bin/tags/get?access_token=${String(b.access_token)}`)).toHaveProperty('tags');
      sandbox.clock.advance(300 * 1000);
      expect(await get(`/cgi-bin/tags/get?access_token=${String(b.access_token)}`)).toMatchObject({ errcode: 42001 });
    } finally {
      sandbox.clock.reset();
    }
  });

  it('legacy /cgi-bin/token issues a new token each call; the previous one lasts 5 more minutes', async () => {
    const { appid } = givenAccount();
    const first = await get(`/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=rules-secret`);
    const second = await get(`/cgi-bin/token?grant_type=client_credential&appid=${appid}&secret=rules-secret`);
    expect(second.access_token).not.toBe(first.access_token);
    expect(await get(`/cgi-bin/tags/get?access_token=${String(first.access_token)}`)).toHaveProperty('tags');
    sandbox.clock.advance(301 * 1000);
    try {
      expect(await get(`/cgi-bin/tags/get?access_token=${String(first.access_token)}`)).toMatchObject({
        errcode: 42001,
      });
      expect(await get(`/cgi-bin/tags/get?access_token=${String(second.access_token)}`)).toHaveProperty('tags');
    } finally {
      sandbox.clock.reset();
    }
  });

  it('answers 41001 without a token, 40014 for a malformed one, 40001 for an unknown one', async () => {
    expect(await get('/cgi-bin/tags/get')).toMatchObject({ errcode: 41001 });
    expect(await get('/cgi-bin/tags/get?access_token=garbage')).toMatchObject({ errcode: 40014 });
    expect(await get('/cgi-bin/tags/get?access_token=SBX_S_unknown')).toMatchObject({ errcode: 40001 });
    expect(await post('/cgi-bin/tags/create?access_token=garbage', 'not json')).toMatchObject({ errcode: 40014 });
  });
});

describe('broadcast bookkeeping', () => {
  it('pushes MASSSENDJOBFINISH with the counts after a broadcast', async () => {
    const { key, appid } = givenAccount();
    for (let i = 0; i < 3; i++) await sandbox.wechat.follower(key).subscribe();
    const { access_token: token } = await post('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid,
      secret: 'rules-secret',
    });
    const sent = await post(`/cgi-bin/message/mass/sendall?access_token=${String(token)}`, {
      filter: { is_to_all: true },
      msgtype: 'text',
      text: { content: 'hello all' },
    });
    expect(sent).toMatchObject({ errcode: 0 });
    await sandbox.wechat.idle();
    const push = sandbox.wechat.platformPushes(key).find((p) => p.event === 'MASSSENDJOBFINISH');
    expect(push?.result.pushed).toContain(`<MsgID>${String(sent.msg_id)}</MsgID>`);
    expect(push?.result.pushed).toContain('<TotalCount>3</TotalCount>');
    expect(push?.result.pushed).toContain('<SentCount>3</SentCount>');
    expect(push?.result.problem).toBe('the account has no callback URL');
  });

  it('refuses a malformed JSON body with 47001', async () => {
    const { appid } = givenAccount();
    const { access_token: token } = await post('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid,
      secret: 'rules-secret',
    });
    const res = await fetch(`${sandbox.wechatBase}/cgi-bin/tags/create?access_token=${String(token)}`, {
      method: 'POST',
      body: '{"tag": ',
    });
    expect(await res.json()).toMatchObject({ errcode: 47001 });
  });
});
