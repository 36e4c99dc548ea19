/**
 * Runs the sandbox alone, for staff rehearsals and the demo: it plays the official accounts configured
 * for the service (same appid, secret, Token, AES key, mode) and pushes to the service's callback route.
 *   npx tsx scripts/sandbox.ts            (SANDBOX_PORT, default 3900; the service on PORT, default 3000)
 * Drive followers and read inboxes through http://127.0.0.1:<port>/_control/wechat/... (see README).
 */
import { ConfigError, loadConfig } from '../src/infra/config.js';
import { createLogger } from '../src/infra/logger.js';
import { startSandbox } from '../src/sandbox/server.js';
import { sandboxAccountsFrom } from '../src/sandbox/wechat/index.js';

const say = (line: string) => process.stderr.write(`[sandbox] ${line}\n`);

let config;
try {
  // Storage is not the sandbox's business; placeholders satisfy the validator when they are unset.
  config = loadConfig({
    MONGO_URL: 'mongodb://127.0.0.1:27017/',
    REDIS_URL: 'redis://127.0.0.1:6379',
    ...process.env,
  });
} catch (err) {
  say(err instanceof ConfigError ? err.message : String(err));
  process.exit(1);
}
const serviceUrl = `http://127.0.0.1:${config.port}`;
const sandbox = await startSandbox({
  port: config.sandbox.port,
  logger: createLogger({ level: config.logLevel }),
  wechat: { accounts: sandboxAccountsFrom(config.wechat.accounts, serviceUrl) },
});
for (const a of sandbox.wechat.accounts()) say(`official account ${a.key} (${a.mode} mode) → ${a.callbackUrl ?? '-'}`);
say(`listening on ${sandbox.url} (WeChat API at ${sandbox.wechatBase}, control at ${sandbox.url}/_control)`);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    void sandbox.close().finally(() => process.exit(0));
  });
