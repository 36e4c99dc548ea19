/** What every part of the sandbox shares: its clock, fault injection, logger and public URL. */
import type Router from '@koa/router';
import type { Logger } from '../infra/logger.js';
import type { SandboxClock } from './clock.js';
import type { Faults } from './faults.js';

export interface SandboxContext {
  clock: SandboxClock;
  faults: Faults;
  logger: Logger;
  /** Filled in once the server listens: http://127.0.0.1:PORT */
  baseUrl(): string;
}

/** A platform simulated by the sandbox: its routes (mounted under a prefix) and its programmatic API. */
export interface SandboxPart<Api> {
  prefix: string;
  router: Router;
  api: Api;
  /** The part's control routes, mounted under /_control (e.g. /_control/wechat/...). */
  control?: Router;
  close?(): Promise<void>;
}
