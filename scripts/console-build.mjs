#!/usr/bin/env node
// `npm run build:console`: type-checks the staff console (console/, Preact + TypeScript) and builds it with
// Vite into console/dist, then stamps the build with a hash of its sources. scripts/launch.mjs compares
// that stamp before `npm start` / `npm test` and rebuilds only when the output is missing or stale.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = join(root, 'console');
const stampFile = join(consoleDir, 'dist', '.source-hash');

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'dist' || name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else out.push(path);
  }
  return out;
}

/** A hash of every console source file and of the lock file (a new Vite or Preact is a new build). */
export function consoleSourceHash() {
  const hash = createHash('sha256');
  for (const file of [...files(consoleDir), join(root, 'package-lock.json')]) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

export function consoleBuildIsStale() {
  if (!existsSync(join(consoleDir, 'dist', 'index.html')) || !existsSync(stampFile)) return true;
  return readFileSync(stampFile, 'utf8') !== consoleSourceHash();
}

export function buildConsole() {
  const bin = (name) => join(root, 'node_modules', '.bin', name);
  const steps = [
    [bin('tsc'), ['--noEmit', '-p', 'console/tsconfig.json']],
    [bin('vite'), ['build', '--config', 'console/vite.config.mjs', '--logLevel', 'warn']],
  ];
  for (const [cmd, args] of steps) {
    const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) return result.status ?? 1;
  }
  writeFileSync(stampFile, consoleSourceHash());
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // --if-stale: build only when the output is missing or older than the sources (used by the tests).
  process.exit(process.argv.includes('--if-stale') && !consoleBuildIsStale() ? 0 : buildConsole());
}
