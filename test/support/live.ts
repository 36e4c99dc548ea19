/**
 * The service on a real port with the sandbox playing WeChat (and WeChat Pay): the sandbox pushes signed,
 * encrypted callbacks to the service, and the service calls the sandbox's APIs. For end-to-end tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import mongoose, { Types } from 'mongoose';
import { afterAll, beforeAll } from 'vitest';
import type { RawSettings } from '../../src/infra/config.js';
import type { ServiceOverrides } from '../../src/services.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { sandboxAccountsFrom } from '../../src/sandbox/wechat/index.js';
import type { FollowerDriver } from '../../src/sandbox/wechat/followers.js';
import { findFreePort } from '../../src/infra/provision/net.js';
import { buildTestApp, cleanFileScope, type TestApp } from './app.js';
import { eventually } from './wait.js';

export interface Live {
  app: TestApp;
  sandbox: Sandbox;
  /** http://127.0.0.1:PORT of the service */
  url: string;
  /** The sandbox WeCom corp the service is configured with (`wecom: true`). */
  corpid?: string;
}

export function useLive(
  overrides: RawSettings = {},
  options: {
    callbackTimeoutMs?: number;
    pay?: boolean;
    /** Also a sandbox WeCom corp (these members) as the default corp, its callbacks pushed to the service. */
    wecom?: string[];
    services?: (sandbox: Sandbox) => ServiceOverrides;
  } = {},
): () => Live {
  let live: Live | undefined;
  let server: Server | undefined;
  beforeAll(async () => {
    const sandbox = await startSandbox({ wechat: { callbackTimeoutMs: options.callbackTimeoutMs ?? 5000 } });
    // The port is chosen first: WeChat Pay's notify URL is part of the service's settings.
    const port = await findFreePort();
    const pay = options.pay ? sandbox.pay.settings({ notifyUrl: `http://127.0.0.1:${port}/wechatpay/notify` }) : {};
    const corp = options.wecom ? sandbox.wecom.addCorp({ members: options.wecom }) : undefined;
    const wecom = corp
      ? {
          WECOM_CORPID: corp.corpid,
          WECOM_SECRET: corp.secret,
          WECOM_TOKEN: corp.token,
          WECOM_AES_KEY: corp.encodingAESKey,
          WECOM_API_BASE: corp.apiBase,
        }
      : {};
    const app = await buildTestApp(
      { WECHAT_API_BASE: sandbox.wechatBase, ...pay, ...wecom, ...overrides },
      options.services?.(sandbox),
    );
    server = createServer(app.app.callback());
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const account of sandboxAccountsFrom(app.config.wechat.accounts, url)) sandbox.wechat.addAccount(account);
    if (corp) sandbox.wecom.setCallbackUrl(corp.corpid, `${url}/wecom/callback`);
    live = { app, sandbox, url, ...(corp ? { corpid: corp.corpid } : {}) };
  });
  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await live?.sandbox.wechat.idle();
    await live?.sandbox.close();
    await live?.app.close();
    await cleanFileScope();
  });
  return () => {
    if (!live) throw new Error('the live service is not started yet');
    return live;
  };
}

/** The account's message templates, as staff would have added them in the WeChat console. */
export function registerMessageTemplates(live: Live, account = 'default'): void {
  for (const template of live.app.deps.templates.values())
    live.sandbox.wechat.addTemplate(account, {
      templateId: template.templateIds[account] ?? template.templateIds.default!,
      title: template.title,
      keywords: Object.keys(template.fields),
    });
}

/**
 * A follower who subscribed through the sandbox and whom the CRM has recorded, moved to `tier`.
 * The CRM finishes recording the subscribe first: on FerretDB two concurrent updates of one profile
 * document can lose one another (whole-document rewrites), and the tier change must not be the one lost.
 */
export async function givenFollower(
  live: Live,
  openid: string,
  tier = 'standard',
): Promise<{ follower: FollowerDriver; profileId: string }> {
  const { app, sandbox } = live;
  const follower = sandbox.wechat.follower('default', openid);
  await follower.subscribe();
  const profileId = await eventually(() => app.deps.profileOf('default', openid));
  await eventually(async () => {
    const doc = await mongoose.connection
      .db!.collection('crm_profiles')
      .findOne({ _id: new Types.ObjectId(profileId) });
    return doc?.lastInteractionAt instanceof Date || undefined;
  });
  if (tier !== 'standard')
    await app.deps.crm.profiles.changeTier({
      profileId: new Types.ObjectId(profileId),
      tier,
      reason: 'test',
      by: 'staff:t',
    });
  return { follower, profileId };
}
