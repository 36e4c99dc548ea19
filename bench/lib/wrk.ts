/** Runs wrk (pinned to CPU 0 when possible) and parses req/s and latency percentiles. */
import { spawnSync } from 'node:child_process';
import { canPin } from './service.js';

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export function hasWrk(): boolean {
  return spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status === 0;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

export function runWrk(options: {
  url: string;
  seconds: number;
  connections: number;
  threads?: number;
  script?: string;
  /** Arguments for the script's init(args), after `--`. */
  scriptArgs?: string[];
}): WrkResult {
  const args = [
    '-t',
    String(options.threads ?? 1),
    '-c',
    String(options.connections),
    '-d',
    `${options.seconds}s`,
    '--latency',
  ];
  if (options.script) args.push('-s', options.script);
  args.push(options.url);
  if (options.scriptArgs?.length) args.push('--', ...options.scriptArgs);
  const cmd = canPin() ? 'taskset' : 'wrk';
  const out = spawnSync(cmd, canPin() ? ['-c', '0', 'wrk', ...args] : args, {
    encoding: 'utf8',
    timeout: (options.seconds + 30) * 1000,
  });
  if (out.status !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  const text = out.stdout;
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)`, 'm').exec(text);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requestsPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0),
    p50Ms: pct('50'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    requests,
    non2xx,
    errors: sockErr ? sockErr.slice(1).reduce((s, v) => s + Number(v), 0) : 0,
  };
}
