/**
 * The service on a real port with the sandbox playing WeCom: the sandbox corp pushes signed, encrypted
 * change_external_contact events to our /wecom/callback, and the service calls the sandbox's APIs.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Types } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import type { RawSettings } from '../../src/infra/config.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { WecomRelation } from '../../src/wecom/model.js';
import { buildTestApp, cleanFileScope, type TestApp } from '../support/app.js';
import { eventually } from '../support/wait.js';

export interface WecomLive {
  app: TestApp;
  sandbox: Sandbox;
  corpid: string;
  url: string;
}

export function useWecomLive(overrides: RawSettings = {}, members = ['zhangsan', 'lisi', 'wangwu']): () => WecomLive {
  let live: WecomLive | undefined;
  let server: Server | undefined;
  beforeAll(async () => {
    const sandbox = await startSandbox();
    const corp = sandbox.wecom.addCorp({ members });
    const app = await buildTestApp({
      WECHAT_API_BASE: sandbox.wechatBase,
      WECOM_CORPID: corp.corpid,
      WECOM_SECRET: corp.secret,
      WECOM_TOKEN: corp.token,
      WECOM_AES_KEY: corp.encodingAESKey,
      WECOM_API_BASE: corp.apiBase,
      ...overrides,
    });
    server = createServer(app.app.callback());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    sandbox.wecom.setCallbackUrl(corp.corpid, `${url}/wecom/callback`);
    live = { app, sandbox, corpid: corp.corpid, url };
  });
  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await live?.app.deps.events.idle();
    await live?.sandbox.close();
    await live?.app.close();
    await cleanFileScope();
  });
  return () => {
    if (!live) throw new Error('the live service is not started yet');
    return live;
  };
}

/** A CRM profile that already knows the customer by unionid (e.g. from the service account). */
export async function givenProfileWithUnionid(app: TestApp, unionid: string): Promise<Types.ObjectId> {
  const { profileId } = await app.deps.crm.identities.resolve({
    identities: [app.deps.crm.identities.of.unionid(unionid)],
    source: 'wechat:default',
    seed: { stage: 'follower' },
  });
  return profileId;
}

/** A customer who adds `userid` in the sandbox, once our callback has joined them to a CRM profile. */
export async function givenWecomCustomer(
  live: WecomLive,
  userid: string,
): Promise<{ profileId: string; externalUserId: string }> {
  const { sandbox, corpid } = live;
  const add = await sandbox.wecom.addCustomer({ corpid, userid, unionid: `o${randomBytes(10).toString('hex')}` });
  const relation = await eventually(() =>
    WecomRelation.findOne({ externalUserId: add.externalUserId })
      .lean()
      .then((r) => (r?.profileId ? r : undefined)),
  );
  return { profileId: relation.profileId!, externalUserId: add.externalUserId };
}
