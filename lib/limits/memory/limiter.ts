/** In-process quota counters (the embedded default). */
import { type Decision, decide, type RateLimiter, type Window, windowAt } from "../types.js";

/** Creates an in-memory limiter holding at most `maxKeys` counters. */
export function createMemoryLimiter(maxKeys = 100_000): RateLimiter {
  const counters = new Map<string, { index: number; count: number }>();
  return {
    store: "memory",
    async ping() {},
    async consume(key: string, windows: Window[], cost = 1): Promise<Decision> {
      const now = Date.now();
      const slots = windows.map((w) => {
        const { index } = windowAt(w, now);
        const id = `${key}\u0000${w.name}`;
        const c = counters.get(id);
        return { id, index, count: c && c.index === index ? c.count : 0 };
      });
      const allowed = slots.every((s, i) => s.count + cost <= windows[i].limit);
      if (allowed) {
        for (const s of slots) {
          s.count += cost;
          counters.delete(s.id); // re-inserted last: the oldest counters are the first dropped
          if (counters.size >= maxKeys) counters.delete(counters.keys().next().value!);
          counters.set(s.id, { index: s.index, count: s.count });
        }
      }
      return decide(
        windows,
        slots.map((s) => s.count),
        cost,
        allowed,
        now,
      );
    },
    async close() {
      counters.clear();
    },
  };
}
