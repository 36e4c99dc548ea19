/** What every request carries in ctx.state once the request-context middleware has run. */
import type { Logger } from '../logger.js';

declare module 'koa' {
  interface DefaultState {
    requestId: string;
    log: Logger;
  }
}

export {};
