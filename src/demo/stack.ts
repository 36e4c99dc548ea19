/**
 * The whole service as separate processes, the way `npm start` runs it in production shape: the sandbox
 * (WeChat, WeChat Pay, WeCom) in this process, then one `web` and one `worker` process (src/main.ts) on
 * their own ports, against the given MongoDB and Redis. Used by `npm run demo`, the acceptance suite and
 * rehearsals. A worker can be killed and restarted, and a private Redis restarted, for fault runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type AppConfig, type RawSettings } from '../infra/config.js';
import { canConnect, findFreePort } from '../infra/provision/net.js';
import { loadMessageTemplates } from '../push/templates.js';
import { startSandbox, type Sandbox } from '../sandbox/server.js';
import { sandboxAccountsFrom } from '../sandbox/wechat/index.js';

const root = join(import.meta.dirname, '..', '..');

/** The fund company's matrix: one service account and three subscription accounts, one open platform. */
export const MATRIX: { key: string; name: string; type: 'service' | 'subscription' }[] = [
  { key: 'default', name: '基金服务号', type: 'service' },
  { key: 'invest', name: '投资资讯', type: 'subscription' },
  { key: 'etf', name: 'ETF 课堂', type: 'subscription' },
  { key: 'pension', name: '养老规划', type: 'subscription' },
];

/** The development credentials of the matrix accounts (local sandbox only; production refuses them). */
export function matrixSettings(): RawSettings {
  const settings: RawSettings = {
    WECHAT_ACCOUNTS: MATRIX.slice(1)
      .map((a) => a.key)
      .join(','),
  };
  MATRIX.slice(1).forEach((account, i) => {
    const p = `WECHAT_${account.key.toUpperCase()}_`;
    settings[`${p}APPID`] = `wxdemo00000000000${i + 1}`;
    settings[`${p}APPSECRET`] = `demo-app-secret-000${i + 1}`;
    settings[`${p}TOKEN`] = `demotoken${i + 1}`;
    settings[`${p}AES_KEY`] = `${'demoaeskey'.repeat(4)}12${i + 1}`;
    settings[`${p}ORIGINAL_ID`] = `gh_demo0000000${i + 1}`;
    settings[`${p}TYPE`] = account.type;
  });
  return settings;
}

export interface StackOptions {
  mongoUrl: string;
  database: string;
  redisUrl: string;
  redisPrefix: string;
  /** Settings for both processes (e.g. shortened payout retries for a fault run). */
  settings?: RawSettings;
  /** Where the processes' logs go. */
  logDir: string;
  /** Port of the web process (0 = a free one). */
  webPort?: number;
  sandboxPort?: number;
  say?: (line: string) => void;
}

export interface Stack {
  sandbox: Sandbox;
  /** http://127.0.0.1:PORT of the web process */
  webUrl: string;
  workerUrl: string;
  /** The configuration the processes run with (as this process reads it). */
  config: AppConfig;
  env: RawSettings;
  /** Kills the worker process without warning (SIGKILL). */
  killWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

interface Proc {
  child: ChildProcess;
  url: string;
  exited: Promise<void>;
}

async function waitReady(url: string, proc: ChildProcess, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`process exited with ${proc.exitCode} before it was ready`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} was not ready within ${timeoutMs} ms`);
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const say = options.say ?? (() => undefined);
  mkdirSync(options.logDir, { recursive: true });
  const webPort = options.webPort || (await findFreePort());
  const workerPort = await findFreePort();
  const webUrl = `http://127.0.0.1:${webPort}`;

  const sandbox = await startSandbox({ port: options.sandboxPort ?? 0, host: '127.0.0.1' });
  const env: RawSettings = {
    APP_ENV: 'development',
    // DEMO_LOG_LEVEL=debug makes the processes' logs (in logDir) tell a drill's story, e.g. each payout notice.
    LOG_LEVEL: process.env.DEMO_LOG_LEVEL ?? 'warn',
    SANDBOX: 'false',
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: webUrl,
    MONGO_URL: options.mongoUrl,
    MONGO_DATABASE: options.database,
    REDIS_URL: options.redisUrl,
    REDIS_PREFIX: options.redisPrefix,
    WECHAT_API_BASE: sandbox.wechatBase,
    WECOM_API_BASE: sandbox.wecomBase,
    ...matrixSettings(),
    ...sandbox.pay.settings({ notifyUrl: `${webUrl}/wechatpay/notify` }),
    ...options.settings,
  };
  for (const a of MATRIX.slice(1)) env[`WECHAT_${a.key.toUpperCase()}_API_BASE`] = sandbox.wechatBase;
  const config = loadConfig(env);
  for (const account of sandboxAccountsFrom(config.wechat.accounts, webUrl)) {
    sandbox.wechat.addAccount(account);
    for (const template of loadMessageTemplates().values())
      sandbox.wechat.addTemplate(account.key, {
        templateId: template.templateIds[account.key] ?? template.templateIds.default!,
        title: template.title,
        keywords: Object.keys(template.fields),
      });
  }
  sandbox.pay.setBalance(100_000_000);

  const spawnRole = (role: 'web' | 'worker', port: number): Proc => {
    const log = createWriteStream(join(options.logDir, `${role}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { ...process.env, ...env, PROCESS_ROLE: role, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, url: `http://127.0.0.1:${port}`, exited };
  };

  const procs: { web?: Proc; worker?: Proc } = {};
  const stopProc = async (p: Proc | undefined, signal: NodeJS.Signals) => {
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill(signal);
    const killer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
    await p.exited;
    clearTimeout(killer);
  };

  try {
    // The web process first: it creates the indexes and the first admin; the worker then finds them.
    procs.web = spawnRole('web', webPort);
    await waitReady(webUrl, procs.web.child);
    say(`web process ${procs.web.child.pid} on ${webUrl}`);
    procs.worker = spawnRole('worker', workerPort);
    await waitReady(procs.worker.url, procs.worker.child);
    say(`worker process ${procs.worker.child.pid} on ${procs.worker.url}`);
  } catch (err) {
    await stopProc(procs.web, 'SIGKILL');
    await stopProc(procs.worker, 'SIGKILL');
    await sandbox.close();
    throw new Error(`${err instanceof Error ? err.message : String(err)} (logs in ${options.logDir})`);
  }

  return {
    sandbox,
    webUrl,
    workerUrl: procs.worker.url,
    config,
    env,
    async killWorker() {
      await stopProc(procs.worker, 'SIGKILL');
      say('worker process killed');
    },
    async startWorker() {
      procs.worker = spawnRole('worker', workerPort);
      await waitReady(procs.worker.url, procs.worker.child);
      say(`worker process ${procs.worker.child.pid} started again`);
    },
    async stop() {
      await Promise.all([stopProc(procs.web, 'SIGTERM'), stopProc(procs.worker, 'SIGTERM')]);
      await sandbox.wechat.idle();
      await sandbox.close();
    },
  };
}

/** A Redis of our own (for fault runs: it can be restarted without touching the shared one). */
export interface PrivateRedis {
  url: string;
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await findFreePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await canConnect('127.0.0.1', port))) {
      if (Date.now() > deadline) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart(downMs = 1000) {
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: kill,
  };
}
