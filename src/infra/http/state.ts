/** What every request carries in ctx.state once the request-context middleware has run. */
import type { Logger } from '../logger.js';

declare module 'koa' {
  interface DefaultState {
    requestId: string;
    log: Logger;
    /** Set by the H5 customer-session middleware (src/h5/session.ts). */
    customer?: { profileId: string; account: string; openid: string };
  }
}

export {};
