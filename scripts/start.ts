/**
 * `npm start`: runs the service with its embedded defaults. Finds or starts MongoDB-compatible storage
 * and Redis (src/infra/provision), starts the local WeChat sandbox when SANDBOX=true (the development
 * default), then the service itself with PROCESS_ROLE (default all). Ctrl-C stops everything it started.
 */
import { join } from 'node:path';
import { provisionServices, ProvisionError } from '../src/infra/provision/index.js';
import { defaultCacheDir } from '../src/infra/provision/ferretdb.js';
import { exitOnSignals, loadConfigOrExit, startService } from '../src/main.js';

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
const service = await startService(config).catch(async (err: unknown) => {
  say(`start-up failed: ${err instanceof Error ? err.message : String(err)}`);
  await services.stop();
  process.exit(1);
});
say(`listening on http://${config.host}:${service.port} (role ${config.role}, env ${config.env})`);
exitOnSignals(service, () => services.stop());
