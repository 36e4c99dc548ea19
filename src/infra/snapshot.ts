/**
 * A value read from storage that a hot path consults on every request (e.g. "which running campaign has
 * this keyword?"): kept in memory, reloaded in the background once older than `maxAgeMs` (callers get the
 * current value meanwhile), and dropped at once by `invalidate()` so the next read in this process waits
 * for a fresh load. Other processes see a change within `maxAgeMs`. Concurrent loads are shared.
 */
export interface Snapshot<T> {
  get(): Promise<T>;
  invalidate(): void;
}

export function createSnapshot<T>(load: () => Promise<T>, maxAgeMs = 1000): Snapshot<T> {
  let current: { value: T; at: number } | undefined;
  let loading: Promise<{ value: T; at: number }> | undefined;
  let generation = 0;

  function reload(): Promise<{ value: T; at: number }> {
    if (loading) return loading;
    const started = generation;
    loading = (async () => {
      try {
        const entry = { value: await load(), at: Date.now() };
        // A load that began before an invalidation may hold stale data: keep it out of the cache.
        if (started === generation) current = entry;
        return entry;
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  return {
    async get() {
      if (!current) return (await reload()).value;
      if (Date.now() - current.at > maxAgeMs) reload().catch(() => undefined);
      return current.value;
    },
    invalidate() {
      generation += 1;
      current = undefined;
    },
  };
}
