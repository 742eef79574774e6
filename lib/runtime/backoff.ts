/** The one retry delay every loop uses (job retries, webhook deliveries, process restarts, broken streams). */

/**
 * Exponential backoff with jitter: attempt 1 waits between half and all of `baseMs`, attempt 2
 * of twice that, and so on, never more than `capMs`.
 */
export function backoff(attempt: number, baseMs: number, capMs = 60_000): number {
  const cap = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}
