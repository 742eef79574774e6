/**
 * Quotas: request counts in fixed windows (a minute, a UTC day) per key, every window of a key
 * counted in one step. Two adapters with the same file names: `memory/` (embedded, one process)
 * and `redis/` (shared by every gateway replica, one atomic script per call); one contract test
 * suite runs against both.
 */

/** At most `limit` requests per window of `seconds` (windows aligned to the epoch: minutes, UTC days). */
export interface Window {
  /** The window's name in headers and messages (`minute`, `day`). */
  name: string;
  limit: number;
  seconds: number;
}

/** A window after a call. */
export interface WindowState extends Window {
  /** Requests left in the current window. */
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/** The outcome of counting a call. */
export interface Decision {
  /** Counted in every window; false: counted in none. */
  allowed: boolean;
  /** Every window's state after the call (before it, when refused). */
  windows: WindowState[];
  /** When refused, how long until the exhausted window resets. */
  retryAfterMs: number;
}

/** A quota counter. */
export interface RateLimiter {
  /**
   * Counts `cost` requests (default 1) against every window of `key`, all or none: refused when
   * any window would go over its limit.
   */
  consume(key: string, windows: Window[], cost?: number): Promise<Decision>;
  /** Where the counts live: `redis` (shared by every replica) or `memory` (this process). */
  readonly store: "redis" | "memory";
  /** Resolves when the store answers (`/health`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The window index a time falls in, and the seconds left in it. */
export function windowAt(window: Window, nowMs: number): { index: number; resetSeconds: number } {
  const ms = window.seconds * 1000;
  const index = Math.floor(nowMs / ms);
  return { index, resetSeconds: Math.max(1, Math.ceil(((index + 1) * ms - nowMs) / 1000)) };
}

/** The decision for counts read (before) or written (after) in each window. */
export function decide(windows: Window[], counts: number[], cost: number, allowed: boolean, nowMs: number): Decision {
  const states = windows.map((w, i) => {
    const { resetSeconds } = windowAt(w, nowMs);
    return { ...w, remaining: Math.max(0, w.limit - counts[i]), resetSeconds };
  });
  const blocking = allowed ? [] : states.filter((_, i) => counts[i] + cost > windows[i].limit);
  const retryAfterMs = blocking.length ? Math.max(...blocking.map((s) => s.resetSeconds)) * 1000 : 0;
  return { allowed, windows: states, retryAfterMs };
}
