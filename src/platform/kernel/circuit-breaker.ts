/**
 * A circuit breaker per account and platform: after `threshold` consecutive transient failures the
 * circuit opens and calls fail fast for `cooldownMs`, so an outage does not pile up requests; then one
 * trial call is let through (half-open) and its outcome closes or re-opens the circuit.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export class CircuitOpenError extends Error {
  constructor(
    readonly circuit: string,
    readonly retryInMs: number,
  ) {
    super(`circuit ${circuit} is open; retry in ${retryInMs} ms`);
    this.name = 'CircuitOpenError';
  }
}

export interface CircuitBreaker {
  readonly name: string;
  state(): BreakerState;
  /** Throws CircuitOpenError while open; otherwise reserves the call. */
  before(): void;
  success(): void;
  /** Counts a transient failure (network, timeout, 5xx, system busy); final errors are not the circuit's business. */
  failure(): void;
}

export function createCircuitBreaker(
  name: string,
  options: { threshold?: number; cooldownMs?: number; now?: () => number } = {},
): CircuitBreaker {
  const threshold = options.threshold ?? 5;
  const cooldownMs = options.cooldownMs ?? 10_000;
  const now = options.now ?? Date.now;
  let failures = 0;
  let openedAt = 0;
  let current: BreakerState = 'closed';
  let trialInFlight = false;

  return {
    name,
    state: () => {
      if (current === 'open' && now() - openedAt >= cooldownMs) current = 'half_open';
      return current;
    },
    before() {
      const s = this.state();
      if (s === 'open') throw new CircuitOpenError(name, cooldownMs - (now() - openedAt));
      if (s === 'half_open') {
        if (trialInFlight) throw new CircuitOpenError(name, 100);
        trialInFlight = true;
      }
    },
    success() {
      failures = 0;
      trialInFlight = false;
      current = 'closed';
    },
    failure() {
      trialInFlight = false;
      failures += 1;
      if (current === 'half_open' || failures >= threshold) {
        current = 'open';
        openedAt = now();
      }
    },
  };
}
