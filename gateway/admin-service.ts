/** AdminService: create, list and revoke API keys. Served by the gateway itself. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { AdminService, ApiKeySchema } from "#gen/flowforge/admin/v1/admin_pb.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { check } from "#runtime/errors.js";
import { catalog } from "../services/catalog.js";
import type { ApiKeyRecord, KeyStore } from "./auth/key-store.js";
import { type Meter, usageFilter, usageMessages } from "./usage/meter.js";
import type { TokenUsageReader } from "./usage/token-usage.js";
import { scopesOf } from "#capability/index.js";
import { allScopes } from "./policies/scopes.js";

/** Largest per-key quota (what the column holds). */
const maxQuota = 2_000_000_000;
const tenantPattern = /^[A-Za-z0-9_.-]{1,64}$/;

/** Scopes a key may be given: the platform's and each capability's (its scope and its name, as the auth policy reads them). */
export function knownScopes(): string[] {
  return allScopes(Object.values(catalog).flatMap(scopesOf));
}

function toApiKey(r: ApiKeyRecord): MessageInitShape<typeof ApiKeySchema> {
  return {
    id: r.keyId,
    tenantId: r.tenantId,
    name: r.name,
    tier: r.tier,
    scopes: r.scopes,
    createTime: timestampFromDate(r.createTime),
    revokeTime: r.revokeTime ? timestampFromDate(r.revokeTime) : undefined,
    quota: r.quota ? { perMinute: r.quota.perMinute ?? 0, perDay: r.quota.perDay ?? 0 } : undefined,
  };
}

/** Creates the AdminService implementation over a key store. */
export function createAdminService(
  keys: KeyStore,
  meter: Meter,
  tokenUsage: TokenUsageReader,
): ServiceImpl<typeof AdminService> {
  return {
    async getUsage(req) {
      const filter = usageFilter(req);
      return { usage: usageMessages(await meter.query({ ...filter, tenantId: req.tenantId || undefined })) };
    },
    async getTokenUsage(req) {
      const filter = usageFilter({ ...req, method: "" });
      return {
        usage: await tokenUsage({ ...filter, model: req.model || undefined, tenantId: req.tenantId || undefined }),
      };
    },
    async createApiKey(req) {
      check(tenantPattern.test(req.tenantId), "tenant_id", "must be 1 to 64 characters of A-Z a-z 0-9 _ . -");
      check(req.name.length <= 200, "name", "must be at most 200 characters");
      check(req.tier === Tier.UNSPECIFIED || Tier[req.tier] !== undefined, "tier", `unknown tier ${req.tier}`);
      for (const [field, value] of [
        ["quota.per_minute", req.quota?.perMinute ?? 0],
        ["quota.per_day", req.quota?.perDay ?? 0],
      ] as const)
        check(value <= maxQuota, field, `must be at most ${maxQuota} (0: the tier's)`);
      const known = knownScopes();
      for (const [i, s] of req.scopes.entries())
        check(known.includes(s), `scopes[${i}]`, `unknown scope "${s}"; known: ${known.join(", ")}`);
      const { record, secret } = await keys.create({
        tenantId: req.tenantId,
        name: req.name,
        tier: req.tier || Tier.FREE,
        scopes: req.scopes.length ? [...new Set(req.scopes)] : ["*"],
        quota:
          req.quota && (req.quota.perMinute || req.quota.perDay)
            ? { perMinute: req.quota.perMinute || undefined, perDay: req.quota.perDay || undefined }
            : undefined,
      });
      return { apiKey: toApiKey(record), secret };
    },
    async listApiKeys(req) {
      const pageSize = req.pageSize === 0 ? 100 : req.pageSize;
      check(pageSize >= 1 && pageSize <= 500, "page_size", "must be between 1 and 500");
      const page = await keys.list({
        tenantId: req.tenantId || undefined,
        includeRevoked: req.includeRevoked,
        pageSize,
        pageToken: req.pageToken || undefined,
      });
      return { apiKeys: page.keys.map(toApiKey), nextPageToken: page.nextPageToken };
    },
    async revokeApiKey(req) {
      check(/^[0-9a-f]{16}$/.test(req.id), "id", "must be a key id (16 hex characters)");
      const record = await keys.revoke(req.id);
      if (!record) throw new ConnectError(`API key ${req.id} not found`, Code.NotFound);
      return { apiKey: toApiKey(record) };
    },
  };
}
