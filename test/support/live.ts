/**
 * The service on a real port with the sandbox playing WeChat (and WeChat Pay): the sandbox pushes signed,
 * encrypted callbacks to the service, and the service calls the sandbox's APIs. For end-to-end tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import type { RawSettings } from '../../src/infra/config.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { sandboxAccountsFrom } from '../../src/sandbox/wechat/index.js';
import { findFreePort } from '../../src/infra/provision/net.js';
import { buildTestApp, cleanFileScope, type TestApp } from './app.js';

export interface Live {
  app: TestApp;
  sandbox: Sandbox;
  /** http://127.0.0.1:PORT of the service */
  url: string;
}

export function useLive(
  overrides: RawSettings = {},
  options: { callbackTimeoutMs?: number; pay?: boolean } = {},
): () => Live {
  let live: Live | undefined;
  let server: Server | undefined;
  beforeAll(async () => {
    const sandbox = await startSandbox({ wechat: { callbackTimeoutMs: options.callbackTimeoutMs ?? 5000 } });
    // The port is chosen first: WeChat Pay's notify URL is part of the service's settings.
    const port = await findFreePort();
    const pay = options.pay ? sandbox.pay.settings({ notifyUrl: `http://127.0.0.1:${port}/wechatpay/notify` }) : {};
    const app = await buildTestApp({ WECHAT_API_BASE: sandbox.wechatBase, ...pay, ...overrides });
    server = createServer(app.app.callback());
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const account of sandboxAccountsFrom(app.config.wechat.accounts, url)) sandbox.wechat.addAccount(account);
    live = { app, sandbox, url };
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
