/** The sandbox's clock: real time plus an offset tests can advance (token and QR expiry, windows). */
export interface SandboxClock {
  now(): number;
  nowSeconds(): number;
  advance(ms: number): void;
  reset(): void;
}

export function createSandboxClock(): SandboxClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    nowSeconds: () => Math.floor((Date.now() + offset) / 1000),
    advance(ms: number) {
      offset += ms;
    },
    reset() {
      offset = 0;
    },
  };
}
