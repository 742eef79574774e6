/**
 * What is left of the caller's quota, kept current: GetIdentity gives each window's limit and
 * remainder, and every answer after it carries the gateway's `RateLimit` header
 * (draft-ietf-httpapi-ratelimit-headers: `"minute";r=12;t=30, "day";r=980;t=4000`), read here by
 * the transport's interceptor.
 */
import { useSyncExternalStore } from "react";

let remaining = new Map<string, number>();
const listeners = new Set<() => void>();

/** Reads a `RateLimit` header's remainders per window; ignores what it cannot read. */
export function noteRateLimit(header: string | null) {
  if (!header) return;
  const next = new Map(remaining);
  for (const m of header.matchAll(/"([\w-]+)";r=(\d+)/g)) next.set(m[1], Number(m[2]));
  if (next.size === remaining.size && [...next].every(([k, v]) => remaining.get(k) === v)) return;
  remaining = next;
  for (const l of listeners) l();
}

/** Forgets the remainders (sign-out). */
export function forgetRateLimit() {
  remaining = new Map();
  for (const l of listeners) l();
}

/** The latest remainder per window name, as headers told it. */
export function useRateLimit(): ReadonlyMap<string, number> {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => remaining,
  );
}
