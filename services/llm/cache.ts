/**
 * The response cache for deterministic chats (temperature 0, same tenant, same request): Redis
 * when REDIS_URL is set, shared by every replica; memory otherwise, bounded in entries.
 */

/** A cache of answers (serialized ChatResponses) by key. */
export interface ResponseCache {
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A cache in memory: the latest `entries` answers, each kept `ttlSeconds`. */
export function createMemoryCache(ttlSeconds: number, entries = 10_000): ResponseCache {
  const map = new Map<string, { value: Uint8Array; until: number }>();
  return {
    async get(key) {
      const hit = map.get(key);
      if (!hit) return undefined;
      map.delete(key);
      if (hit.until < Date.now()) return undefined;
      map.set(key, hit); // most recently used last
      return hit.value;
    },
    async set(key, value) {
      map.delete(key);
      map.set(key, { value, until: Date.now() + ttlSeconds * 1000 });
      while (map.size > entries) map.delete(map.keys().next().value!);
    },
    async close() {
      map.clear();
    },
  };
}

/** A cache in Redis under `flowforge:llm:` keys, each expiring after `ttlSeconds`. */
export async function createRedisCache(url: string, ttlSeconds: number): Promise<ResponseCache> {
  const { Redis } = await import("ioredis"); // loaded only where Redis is used
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  const prefix = "flowforge:llm:";
  return {
    async get(key) {
      // A cache that is down is a miss, never a failed call.
      const value = await redis.getBuffer(prefix + key).catch(() => null);
      return value ?? undefined;
    },
    async set(key, value) {
      await redis.set(prefix + key, Buffer.from(value), "EX", ttlSeconds).catch(() => undefined);
    },
    async close() {
      redis.disconnect();
    },
  };
}
