/**
 * API keys: `ffk_<id>_<secret>`, stored as SHA-256 of the whole key with tenant, tier, scopes and
 * revocation. Lookups are cached briefly; a revocation through this store takes effect at once,
 * through another replica within `cacheTtlMs`.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import type { Sql } from "#db/sql.js";
import { decodePageToken, encodePageToken } from "#runtime/page-token.js";

/** Who a call acts for. */
export interface Principal {
  /** The key's id ("admin" for the operator key). */
  keyId: string;
  /** The tenant all data belongs to. */
  tenantId: string;
  /** Rate-limit tier. */
  tier: Tier;
  /** Capabilities the key may call (`*` for all; `admin` for AdminService). */
  scopes: string[];
  /** Quotas of this key instead of its tier's, where set. */
  quota?: KeyQuota;
  /** The end user, for a JWT (its `sub`); API keys have none. */
  userId?: string;
}

/** A key's own quotas; an unset one is the tier's. */
export interface KeyQuota {
  perMinute?: number;
  perDay?: number;
}

/** An API key as stored, without its secret. */
export interface ApiKeyRecord extends Principal {
  name: string;
  createTime: Date;
  revokeTime: Date | null;
}

/** Options for createKeyStore. */
export interface KeyStoreOptions {
  /** Database holding `api_keys`. */
  sql: Sql;
  /** The operator key (FLOWFORGE_ADMIN_KEY), accepted with every scope. Kept only as a hash. */
  adminKey?: string;
  /** How long a lookup is cached. Default 5 s. */
  cacheTtlMs?: number;
}

/** Input for KeyStore.create. */
export interface NewApiKey {
  tenantId: string;
  name: string;
  tier: Tier;
  scopes: string[];
  quota?: KeyQuota;
}

/** A page of keys. */
export interface ApiKeyPage {
  keys: ApiKeyRecord[];
  nextPageToken: string;
}

/** The key store used by the gateway's auth policy and AdminService. */
export interface KeyStore {
  /** Creates a key; the secret is returned once and never stored. */
  create(key: NewApiKey): Promise<{ record: ApiKeyRecord; secret: string }>;
  /** Lists keys, newest first. */
  list(query: {
    tenantId?: string;
    includeRevoked?: boolean;
    pageSize: number;
    pageToken?: string;
  }): Promise<ApiKeyPage>;
  /** Revokes a key; undefined when there is no such key. */
  revoke(id: string): Promise<ApiKeyRecord | undefined>;
  /** The principal for a presented secret, or undefined when unknown or revoked. */
  authenticate(secret: string): Promise<Principal | undefined>;
}

const keyPattern = /^ffk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** The principal of the operator key. */
export const adminPrincipal: Principal = {
  keyId: "admin",
  tenantId: "admin",
  tier: Tier.ENTERPRISE,
  scopes: ["*", "admin"],
};

const sha256 = (text: string) => createHash("sha256").update(text).digest();

interface Row {
  seq: string;
  id: string;
  tenant_id: string;
  name: string;
  tier: number;
  scopes: string[];
  secret_hash: Buffer;
  create_time: Date;
  revoke_time: Date | null;
  per_minute: number | null;
  per_day: number | null;
}

function toRecord(row: Row): ApiKeyRecord {
  return {
    keyId: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    tier: row.tier as Tier,
    scopes: row.scopes,
    createTime: row.create_time,
    revokeTime: row.revoke_time,
    ...(row.per_minute !== null || row.per_day !== null
      ? { quota: { perMinute: row.per_minute ?? undefined, perDay: row.per_day ?? undefined } }
      : {}),
  };
}

/** Creates a key store over `api_keys`. */
export function createKeyStore(options: KeyStoreOptions): KeyStore {
  const { sql } = options;
  const ttl = options.cacheTtlMs ?? 5000;
  const adminHash = options.adminKey ? sha256(options.adminKey) : undefined;
  const cache = new Map<string, { principal: Principal | undefined; expires: number }>();

  return {
    async create(key) {
      const id = randomBytes(8).toString("hex");
      const secret = `ffk_${id}_${randomBytes(32).toString("base64url")}`;
      const [row] = await sql<Row[]>`
        INSERT INTO api_keys (id, tenant_id, name, tier, scopes, secret_hash, per_minute, per_day)
        VALUES (${id}, ${key.tenantId}, ${key.name}, ${key.tier}, ${sql.array(key.scopes)}, ${sha256(secret)},
                ${key.quota?.perMinute ?? null}, ${key.quota?.perDay ?? null})
        RETURNING *`;
      return { record: toRecord(row), secret };
    },

    async list({ tenantId, includeRevoked, pageSize, pageToken }) {
      // Page tokens carry the creation sequence of the last key shown.
      const after = pageToken ? String(decodePageToken(pageToken, "keys", "page_token")) : undefined;
      const rows = await sql<Row[]>`
        SELECT * FROM api_keys
        WHERE true
          ${tenantId ? sql`AND tenant_id = ${tenantId}` : sql``}
          ${includeRevoked ? sql`` : sql`AND revoke_time IS NULL`}
          ${after ? sql`AND seq < ${after}` : sql``}
        ORDER BY seq DESC
        LIMIT ${pageSize + 1}`;
      const more = rows.length > pageSize;
      return {
        keys: rows.slice(0, pageSize).map(toRecord),
        nextPageToken: more ? encodePageToken("keys", rows[pageSize - 1].seq) : "",
      };
    },

    async revoke(id) {
      const [row] = await sql<Row[]>`
        UPDATE api_keys SET revoke_time = coalesce(revoke_time, now()) WHERE id = ${id} RETURNING *`;
      for (const [hash, entry] of cache) if (entry.principal?.keyId === id) cache.delete(hash);
      return row ? toRecord(row) : undefined;
    },

    async authenticate(secret) {
      const hash = sha256(secret);
      if (adminHash && timingSafeEqual(hash, adminHash)) return adminPrincipal;
      const match = keyPattern.exec(secret);
      if (!match) return undefined;
      const cacheKey = hash.toString("hex");
      const cached = cache.get(cacheKey);
      if (cached && cached.expires > Date.now()) return cached.principal;
      const [row] = await sql<Row[]>`SELECT * FROM api_keys WHERE id = ${match[1]}`;
      const principal =
        row && row.revoke_time === null && timingSafeEqual(row.secret_hash, hash) ? toRecord(row) : undefined;
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { principal, expires: Date.now() + ttl });
      return principal;
    },
  };
}
