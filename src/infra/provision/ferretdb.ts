/**
 * FerretDB v1.24.2, built from its Go module and cached. A plain `go install …@v1.24.2` fails here (the
 * module's version-list look-up is refused), so the module is downloaded, copied, given the version file
 * its build expects (without it the binary panics at start), and built. About two minutes, once.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { commandExists } from './net.js';

export const FERRETDB_VERSION = 'v1.24.2';
const MODULE = 'github.com/FerretDB/FerretDB';

export interface FerretdbBinaryOptions {
  /** Folder holding cached builds; defaults to ~/.cache/wechat-scrm (shared by every clone on the machine). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export function defaultCacheDir(): string {
  return join(homedir(), '.cache', 'wechat-scrm');
}

export function ferretdbBinaryPath(cacheDir = defaultCacheDir()): string {
  return join(cacheDir, 'ferretdb', FERRETDB_VERSION, 'ferretdb');
}

function versionOf(binary: string): string | undefined {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return out.status === 0 ? /version:\s*(\S+)/.exec(out.stdout)?.[1] : undefined;
}

/** Returns a FerretDB binary of the pinned version, building and caching it when needed. */
export async function ensureFerretdbBinary(options: FerretdbBinaryOptions = {}): Promise<string> {
  const log = options.log ?? (() => undefined);
  const target = ferretdbBinaryPath(options.cacheDir);
  if (existsSync(target) && versionOf(target) === FERRETDB_VERSION) return target;
  if (commandExists('ferretdb')) {
    const onPath = spawnSync('sh', ['-c', 'command -v ferretdb'], { encoding: 'utf8' }).stdout.trim();
    if (onPath && versionOf(onPath) === FERRETDB_VERSION) return onPath;
  }
  if (!commandExists('go')) throw new Error('Go is not installed, so FerretDB cannot be built');

  mkdirSync(dirname(target), { recursive: true });
  const lock = `${target}.lock`;
  await acquireLock(lock, log);
  try {
    // Another process may have finished the build while we waited for the lock.
    if (existsSync(target) && versionOf(target) === FERRETDB_VERSION) return target;
    build(target, log);
    return target;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function build(target: string, log: (line: string) => void): void {
  log(`building FerretDB ${FERRETDB_VERSION} from the Go module proxy (about 2 minutes, once)`);
  const download = spawnSync('go', ['mod', 'download', '-json', `${MODULE}@${FERRETDB_VERSION}`], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (download.status !== 0) throw new Error(`go mod download failed: ${download.stderr.trim().slice(0, 500)}`);
  const moduleDir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  if (!moduleDir) throw new Error('go mod download did not report the module folder');

  const src = mkdtempSync(join(tmpdir(), 'ferretdb-src-'));
  try {
    cpSync(moduleDir, src, { recursive: true });
    makeWritable(src);
    writeFileSync(join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    const tmpTarget = `${target}.${process.pid}.tmp`;
    const built = spawnSync('go', ['build', '-trimpath', '-o', tmpTarget, './cmd/ferretdb'], {
      cwd: src,
      encoding: 'utf8',
      timeout: 20 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    if (built.status !== 0) throw new Error(`go build failed: ${built.stderr.trim().slice(-800)}`);
    renameSync(tmpTarget, target);
    log(`FerretDB built: ${target}`);
  } finally {
    makeWritable(src);
    rmSync(src, { recursive: true, force: true });
  }
}

/** The Go module cache is read-only; the copy must be writable to add the version file and to delete it. */
function makeWritable(dir: string): void {
  spawnSync('chmod', ['-R', 'u+w', dir]);
  chmodSync(dir, 0o755);
}

async function acquireLock(lock: string, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 20 * 60_000;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch {
      // A lock older than 25 minutes belongs to a build that died.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 25 * 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        continue; // the lock vanished between the two calls: try again
      }
      if (!announced) log('waiting for another process that is building FerretDB');
      announced = true;
      if (Date.now() > deadline) throw new Error('timed out waiting for the FerretDB build lock');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
