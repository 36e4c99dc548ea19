/** The shared kernel of the platform clients: HTTP with timeouts and breaker, typed errors, token cache. */
export { createPlatformHttp, type PlatformHttp, type PlatformRequest, type PlatformHttpOptions } from './http.js';
export {
  PlatformError,
  isPlatformError,
  dispositionOf,
  payDispositionOf,
  backoffMs,
  type Disposition,
  type Platform,
} from './errors.js';
export { createCircuitBreaker, CircuitOpenError, type CircuitBreaker, type BreakerState } from './circuit-breaker.js';
export { createTokenCache, type TokenCache, type FetchedToken } from './token-cache.js';
