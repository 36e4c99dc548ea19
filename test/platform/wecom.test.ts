/**
 * WeCom client against the sandbox: the token shared through Redis, each error class, customer-contact
 * APIs, and the add-contact flow (contact-way state on a signed, encrypted event; welcome code used once).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, inject } from 'vitest';
import { createRedis, deleteByPrefix, type Redis } from '../../src/infra/redis.js';
import {
  addContactWay,
  addCorpTag,
  addMsgTemplate,
  createWecomCallbackCrypto,
  createWecomClient,
  delCorpTag,
  editCorpTag,
  getCorpTagList,
  getExternalContact,
  listExternalContacts,
  markTag,
  parseWecomEvent,
  sendWelcomeMsg,
  type WecomClient,
  type WecomEvent,
} from '../../src/platform/wecom/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';

const prefix = `t:wecom:${randomBytes(4).toString('hex')}:`;
let redis: Redis;
let sandbox: Sandbox;
let corp: ReturnType<Sandbox['wecom']['addCorp']>;
let client: WecomClient;
let receiver: Server;
const seen = new Set<string>();
const handled: WecomEvent[] = [];
let welcomeText: string | undefined = 'Welcome! Here is your coupon.';
let delayFirstMs = 0;

function newClient(overrides: Partial<{ secret: string; corpid: string; timeoutMs: number }> = {}): WecomClient {
  return createWecomClient({
    config: { corpid: overrides.corpid ?? corp.corpid, secret: overrides.secret ?? corp.secret, apiBase: corp.apiBase },
    redis,
    timeoutMs: overrides.timeoutMs ?? 10_000,
  });
}

beforeAll(async () => {
  redis = createRedis({ url: inject('redisUrl'), prefix });
  sandbox = await startSandbox();
  corp = sandbox.wecom.addCorp({ members: ['zhangsan', 'lisi'] });
  client = newClient();
  // Our callback endpoint: verify + decrypt, de-duplicate re-deliveries, send the welcome in the callback path.
  const crypto = createWecomCallbackCrypto({
    token: corp.token,
    encodingAESKey: corp.encodingAESKey,
    corpid: corp.corpid,
  });
  receiver = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams);
    if (req.method === 'GET') {
      try {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(crypto.verifyUrl(query));
      } catch {
        res.writeHead(403).end();
      }
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const event = await parseWecomEvent(crypto.openMessage(query, Buffer.concat(chunks).toString('utf8')));
          if (delayFirstMs > 0) {
            const wait = delayFirstMs;
            delayFirstMs = 0;
            await new Promise((r) => setTimeout(r, wait));
          }
          if (!seen.has(event.dedupKey)) {
            seen.add(event.dedupKey);
            handled.push(event);
            if (event.kind === 'add_external_contact' && event.welcomeCode && welcomeText)
              await sendWelcomeMsg(client, {
                welcomeCode: event.welcomeCode,
                text: `${welcomeText} (${event.state ?? '-'})`,
              });
          }
          res.writeHead(200).end('');
        } catch {
          res.writeHead(403).end();
        }
      })();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  sandbox.wecom.setCallbackUrl(
    corp.corpid,
    `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/wecom/callback`,
  );
});

afterAll(async () => {
  await sandbox.close();
  await new Promise<void>((r) => receiver.close(() => r()));
  await deleteByPrefix(redis, prefix);
  await redis.quit();
});

afterEach(() => {
  sandbox.faults.clear();
  sandbox.clock.reset();
  sandbox.wecom.setCallBudget(10_000);
  welcomeText = 'Welcome! Here is your coupon.';
});

describe('access token', () => {
  it('is fetched once for two client instances sharing Redis, however many calls race', async () => {
    const before = sandbox.wecom.gettokenCalls(corp.corpid);
    const other = newClient();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => listExternalContacts(i % 2 ? client : other, 'zhangsan')),
    );
    expect(results).toHaveLength(10);
    expect(sandbox.wecom.gettokenCalls(corp.corpid) - before).toBe(1);
  });

  it('a revoked token (40014) is refreshed and the call retried once', async () => {
    await listExternalContacts(client, 'zhangsan');
    const before = sandbox.wecom.gettokenCalls(corp.corpid);
    sandbox.wecom.revokeTokens(corp.corpid);
    await expect(listExternalContacts(client, 'zhangsan')).resolves.toEqual(expect.any(Array));
    expect(sandbox.wecom.gettokenCalls(corp.corpid) - before).toBe(1);
  });

  it('an expired token (42001) is refreshed', async () => {
    await listExternalContacts(client, 'zhangsan');
    sandbox.clock.advance(7201 * 1000);
    await expect(listExternalContacts(client, 'zhangsan')).resolves.toEqual(expect.any(Array));
  });

  it('a wrong secret or corpid is final (give up), not a refresh loop', async () => {
    await expect(listExternalContacts(newClient({ secret: 'wrong-secret-000000' }), 'zhangsan')).rejects.toMatchObject({
      errcode: 40001,
      disposition: 'give_up',
    });
    await expect(listExternalContacts(newClient({ corpid: 'wwnosuchcorp' }), 'zhangsan')).rejects.toMatchObject({
      errcode: 40013,
      disposition: 'give_up',
    });
  });
});

describe('error classes', () => {
  it('the call budget answers 45009 (retry)', async () => {
    await listExternalContacts(client, 'zhangsan');
    sandbox.wecom.setCallBudget(0);
    await expect(listExternalContacts(client, 'zhangsan')).rejects.toMatchObject({
      errcode: 45009,
      disposition: 'retry',
    });
  });

  it('system busy (-1), a 502 and a timeout are retry; a bad userid is give up', async () => {
    sandbox.faults.add({ platform: 'wecom', path: '/cgi-bin/externalcontact/list', errcode: -1, times: 1 });
    await expect(listExternalContacts(client, 'zhangsan')).rejects.toMatchObject({ errcode: -1, disposition: 'retry' });
    sandbox.faults.add({ platform: 'wecom', path: '/cgi-bin/externalcontact/list', httpStatus: 502, times: 1 });
    await expect(listExternalContacts(client, 'zhangsan')).rejects.toMatchObject({
      errcode: 'http_502',
      disposition: 'retry',
    });
    sandbox.faults.add({ platform: 'wecom', path: '/cgi-bin/externalcontact/list', hang: true, times: 1 });
    await expect(listExternalContacts(newClient({ timeoutMs: 200 }), 'zhangsan')).rejects.toMatchObject({
      errcode: 'timeout',
      disposition: 'retry',
    });
    await expect(listExternalContacts(client, 'nobody')).rejects.toMatchObject({
      errcode: 60111,
      disposition: 'give_up',
    });
    await expect(getExternalContact(client, 'wmNOSUCH')).rejects.toMatchObject({
      errcode: 84061,
      disposition: 'give_up',
    });
  });
});

describe('contact way → add_external_contact → welcome message', () => {
  it('answers WeCom URL verification with the decrypted echostr', async () => {
    expect(await sandbox.wecom.verifyCallbackUrl(corp.corpid)).toBe(true);
  });

  it('delivers the contact way state on the signed, encrypted event; the welcome is sent once within 20 s', async () => {
    const way = await addContactWay(client, { type: 1, scene: 2, state: 'spring-campaign-42', users: ['zhangsan'] });
    expect(way.qrCode).toEqual(expect.any(String));
    const unionid = `oU${randomBytes(12).toString('hex')}`;
    const { externalUserId, welcomeCode, deliveries } = await sandbox.wecom.addCustomer({
      corpid: corp.corpid,
      configId: way.configId,
      name: 'Li Lei',
      unionid,
    });
    expect(deliveries.map((d) => d.status)).toEqual([200]);
    expect(handled.find((e) => e.kind === 'add_external_contact' && e.externalUserId === externalUserId)).toMatchObject(
      {
        userId: 'zhangsan',
        state: 'spring-campaign-42',
        welcomeCode,
      },
    );
    expect(sandbox.wecom.welcomeMessages(corp.corpid, externalUserId)).toEqual([
      expect.objectContaining({ userid: 'zhangsan', text: 'Welcome! Here is your coupon. (spring-campaign-42)' }),
    ]);
    // Single use: a second send with the same code is final.
    await expect(sendWelcomeMsg(client, { welcomeCode, text: 'again' })).rejects.toMatchObject({
      errcode: 41051,
      disposition: 'give_up',
    });
    const detail = await getExternalContact(client, externalUserId);
    expect(detail.external_contact).toMatchObject({
      external_userid: externalUserId,
      name: 'Li Lei',
      unionid,
      type: 1,
    });
    expect(detail.follow_user[0]).toMatchObject({ userid: 'zhangsan', state: 'spring-campaign-42', add_way: 1 });
    expect(await listExternalContacts(client, 'zhangsan')).toContain(externalUserId);
  });

  it('a customer deleting the member arrives as del_follow_user, and the contact is gone', async () => {
    welcomeText = undefined;
    const { externalUserId } = await sandbox.wecom.addCustomer({ corpid: corp.corpid, userid: 'lisi' });
    const deliveries = await sandbox.wecom.customerDeletesMember({
      corpid: corp.corpid,
      externalUserId,
      userid: 'lisi',
    });
    expect(deliveries.map((d) => d.status)).toEqual([200]);
    expect(handled.find((e) => e.kind === 'del_follow_user' && e.externalUserId === externalUserId)).toMatchObject({
      userId: 'lisi',
    });
    await expect(getExternalContact(client, externalUserId)).rejects.toMatchObject({ errcode: 84061 });
    expect(await listExternalContacts(client, 'lisi')).not.toContain(externalUserId);
  });

  it('a welcome code expires after 20 s', async () => {
    welcomeText = undefined;
    const { welcomeCode } = await sandbox.wecom.addCustomer({ corpid: corp.corpid, userid: 'lisi' });
    sandbox.clock.advance(21_000);
    await expect(sendWelcomeMsg(client, { welcomeCode, text: 'late' })).rejects.toMatchObject({ errcode: 41051 });
  });

  it('a slow answer is re-delivered by WeCom, and de-duplication keeps one welcome', async () => {
    // Slower than the sandbox's patience on the first delivery, comfortably fast on the second (a loaded CI box).
    sandbox.wecom.setCallbackTimeoutMs(1500);
    delayFirstMs = 2500;
    try {
      const { externalUserId, deliveries } = await sandbox.wecom.addCustomer({ corpid: corp.corpid, userid: 'lisi' });
      expect(deliveries.length).toBe(2);
      expect(deliveries[0]?.status).toBe(0);
      expect(deliveries[1]?.status).toBe(200);
      await new Promise((r) => setTimeout(r, 1200)); // let the slow first delivery finish its work
      expect(sandbox.wecom.welcomeMessages(corp.corpid, externalUserId)).toHaveLength(1);
      expect(
        handled.filter((e) => e.kind === 'add_external_contact' && e.externalUserId === externalUserId),
      ).toHaveLength(1);
    } finally {
      sandbox.wecom.setCallbackTimeoutMs(5000);
    }
  });

  it('refuses invalid contact ways: two users on a single way (40058), a state over 30 characters (client side)', async () => {
    await expect(addContactWay(client, { type: 1, scene: 2, users: ['zhangsan', 'lisi'] })).rejects.toMatchObject({
      errcode: 40058,
    });
    await expect(
      addContactWay(client, { type: 1, scene: 2, users: ['zhangsan'], state: 'x'.repeat(31) }),
    ).rejects.toThrow();
    await expect(addContactWay(client, { type: 1, scene: 2, users: ['ghost'] })).rejects.toMatchObject({
      errcode: 60111,
    });
  });
});

describe('sandbox control API', () => {
  it('lets a rehearsal add a customer through a contact way over HTTP, and refuses an unknown way', async () => {
    const way = await addContactWay(client, { type: 1, scene: 2, state: 'rehearsal', users: ['lisi'] });
    const res = await fetch(`${sandbox.wecomBase}/_sandbox/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ corpid: corp.corpid, config_id: way.configId, name: 'Han Meimei' }),
    });
    const body = (await res.json()) as { errcode: number; external_userid: string };
    expect(body.errcode).toBe(0);
    expect((await getExternalContact(client, body.external_userid)).follow_user[0]?.state).toBe('rehearsal');
    const bad = await fetch(`${sandbox.wecomBase}/_sandbox/customers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ corpid: corp.corpid, config_id: 'nosuchway' }),
    });
    expect(((await bad.json()) as { errcode: number }).errcode).toBe(40058);
  });
});

describe('corp tags and group sends', () => {
  it('creates, lists, renames, marks and deletes tags with WeCom errcodes for the bad cases', async () => {
    const group = await addCorpTag(client, {
      groupName: `Level ${randomBytes(3).toString('hex')}`,
      tags: [{ name: 'Gold' }, { name: 'Silver' }],
    });
    expect(group.tag.map((t) => t.name)).toEqual(['Gold', 'Silver']);
    await expect(addCorpTag(client, { groupId: group.group_id, tags: [{ name: 'Gold' }] })).rejects.toMatchObject({
      errcode: 40071,
    });
    const gold = group.tag[0]!.id;
    await editCorpTag(client, { id: gold, name: 'Platinum' });
    const listed = await getCorpTagList(client, { groupIds: [group.group_id] });
    expect(listed[0]?.tag.map((t) => t.name)).toEqual(['Platinum', 'Silver']);

    const { externalUserId } = await sandbox.wecom.addCustomer({ corpid: corp.corpid, userid: 'zhangsan' });
    await markTag(client, { userid: 'zhangsan', externalUserId, add: [gold] });
    expect(sandbox.wecom.tagsOf(corp.corpid, externalUserId, 'zhangsan')).toEqual([gold]);
    expect((await getExternalContact(client, externalUserId)).follow_user[0]?.tags).toEqual([
      expect.objectContaining({ tag_id: gold, tag_name: 'Platinum', group_name: group.group_name }),
    ]);
    await expect(markTag(client, { userid: 'zhangsan', externalUserId, add: ['etNOSUCH'] })).rejects.toMatchObject({
      errcode: 40068,
    });
    await expect(markTag(client, { userid: 'lisi', externalUserId, add: [gold] })).rejects.toMatchObject({
      errcode: 84061,
    });

    await delCorpTag(client, { tagIds: [gold] });
    expect(sandbox.wecom.tagsOf(corp.corpid, externalUserId, 'zhangsan')).toEqual([]);
    await expect(editCorpTag(client, { id: gold, name: 'x' })).rejects.toMatchObject({ errcode: 40068 });
  });

  it('a group-send task lists the customers it cannot reach in fail_list', async () => {
    const { externalUserId } = await sandbox.wecom.addCustomer({ corpid: corp.corpid, userid: 'zhangsan' });
    const res = await addMsgTemplate(client, {
      externalUserIds: [externalUserId, 'wmUNKNOWN'],
      sender: 'zhangsan',
      text: 'Spring sale starts today',
    });
    expect(res.failList).toEqual(['wmUNKNOWN']);
    expect(sandbox.wecom.msgTemplates(corp.corpid).find((t) => t.msgid === res.msgid)).toMatchObject({
      externalUserIds: [externalUserId],
      text: 'Spring sale starts today',
    });
    await expect(addMsgTemplate(client, { chatType: 'group', text: 'hi' })).rejects.toMatchObject({ errcode: 40058 });
  });
});
