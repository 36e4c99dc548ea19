/**
 * No Docker engine runs here, so the deployment files are checked statically: compose structure and
 * health checks, and that docker/.env.example describes a production configuration our own validator
 * accepts once its placeholders are replaced.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadConfig } from '../../src/infra/config.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  healthcheck?: { test: string[] };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas: string };
}

const compose = parse(readFileSync('docker/compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const env = Object.fromEntries(
  readFileSync('docker/.env.example', 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z0-9_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

describe('docker deployment files', () => {
  it('runs MongoDB 7 as a replica set, Redis 7, and the app as web and worker, all health-checked', () => {
    const { services } = compose;
    expect(services.mongo?.image).toBe('mongo:7');
    expect(services.mongo?.command).toEqual(expect.arrayContaining(['--replSet', 'rs0']));
    expect(services.redis?.image).toBe('redis:7');
    expect(services.web?.environment?.PROCESS_ROLE).toBe('web');
    expect(services.worker?.environment?.PROCESS_ROLE).toBe('worker');
    for (const name of ['mongo', 'redis', 'web', 'worker'])
      expect(services[name]?.healthcheck?.test.length).toBeGreaterThan(1);
    for (const name of ['web', 'worker']) {
      expect(services[name]?.environment?.MONGO_URL).toContain('replicaSet=rs0');
      expect(services[name]?.depends_on?.mongo?.condition).toBe('service_healthy');
      expect(services[name]?.deploy?.replicas).toMatch(/REPLICAS/);
    }
  });

  it('builds in stages and runs the compiled entry', () => {
    const dockerfile = readFileSync('docker/Dockerfile', 'utf8');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toContain('npm ci --omit=dev');
    expect(dockerfile).toContain('CMD ["node", "dist/src/main.js"]');
  });

  it('describes a production configuration that only lacks its secrets', () => {
    const settings = { ...env, ...compose.services.web?.environment };
    let problems: string[] = [];
    try {
      loadConfig(settings);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    expect(problems.length).toBeGreaterThan(0);
    // Key files are mounted at /run/secrets inside the container; outside it they cannot be read.
    const mountedOnlyInContainer = ['WECHATPAY_PRIVATE_KEY: not a PEM', 'WECHATPAY_PUBLIC_KEY: not a PEM'];
    const unexpected = problems.filter(
      (p) =>
        !p.endsWith('still holds a placeholder or development value') &&
        !mountedOnlyInContainer.some((m) => p.startsWith(m)),
    );
    expect(unexpected).toEqual([]);
  });
});
