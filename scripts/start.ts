/**
 * `npm start`: runs the service with its embedded defaults. Finds or starts MongoDB-compatible storage
 * and Redis (src/infra/provision), starts the local WeChat sandbox when SANDBOX=true (the development
 * default), then the service itself with PROCESS_ROLE (default all). Ctrl-C stops everything it started.
 */
import { join } from 'node:path';
import { provisionServices, ProvisionError } from '../src/infra/provision/index.js';
import { defaultCacheDir } from '../src/infra/provision/ferretdb.js';
import { exitOnSignals, loadConfigOrExit, startService } from '../src/main.js';
import { loadMessageTemplates } from '../src/push/templates.js';
import { startSandbox, type Sandbox } from '../src/sandbox/server.js';
import { sandboxAccountsFrom } from '../src/sandbox/wechat/index.js';

const root = join(import.meta.dirname, '..');
const say = (line: string) => process.stderr.write(`[start] ${line}\n`);

let services;
try {
  services = await provisionServices({
    workDir: join(root, '.cache', 'run'),
    mongoUrl: process.env.MONGO_URL,
    redisUrl: process.env.REDIS_URL,
    ferretdbDatabase: 'scrm_ferretdb',
    cacheDir: defaultCacheDir(),
    log: say,
  });
} catch (err) {
  say(err instanceof ProvisionError ? err.message : `could not provision services: ${String(err)}`);
  process.exit(1);
}
process.env.MONGO_URL = services.mongoUrl;
process.env.REDIS_URL = services.redisUrl;
say(`MongoDB: ${services.mongoSource}`);
say(`Redis: ${services.redisSource}`);

const config = loadConfigOrExit();

// The sandbox plays WeChat for the configured accounts: its API answers the service, and its followers
// push signed, encrypted callbacks to the service (drive them through /_control/wechat/...).
let sandbox: Sandbox | undefined;
if (config.sandbox.enabled) {
  const serviceUrl = `http://127.0.0.1:${config.port}`;
  sandbox = await startSandbox({
    port: config.sandbox.port,
    host: '127.0.0.1',
    wechat: { accounts: sandboxAccountsFrom(config.wechat.accounts, serviceUrl) },
  });
  // The message templates staff would have added in each account's WeChat console.
  for (const account of config.wechat.accounts)
    for (const template of loadMessageTemplates().values())
      sandbox.wechat.addTemplate(account.key, {
        templateId: template.templateIds[account.key] ?? template.templateIds.default!,
        title: template.title,
        keywords: Object.keys(template.fields),
      });
  say(`sandbox (WeChat, WeChat Pay, WeCom) on ${sandbox.url}; control API under ${sandbox.url}/_control`);
}

const service = await startService(config).catch(async (err: unknown) => {
  say(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  await sandbox?.close();
  await services.stop();
  process.exit(1);
});
say(`listening on http://${config.host}:${service.port} (role ${config.role}, env ${config.env})`);
exitOnSignals(service, async () => {
  await sandbox?.close();
  await services.stop();
});
