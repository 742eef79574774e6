/** AccountService: any caller's own identity and its tenant's usage. Served by the gateway itself. */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { AccountService } from "#gen/flowforge/account/v1/account_pb.js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { windowAt } from "#limits/types.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import type { Principal } from "./auth/key-store.js";
import { principalKey } from "./policies/auth.js";
import { catalog } from "../services/catalog.js";
import { quotaKey, type TierLimits, windowsFor } from "./policies/rate-limit.js";
import { scopeList } from "./policies/scopes.js";
import { type Meter, usageFilter, usageMessages } from "./usage/meter.js";
import type { TokenUsageReader } from "./usage/token-usage.js";

function callerOf(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new ConnectError("no caller", Code.Unauthenticated);
  return principal;
}

/** Creates the AccountService implementation. */
export function createAccountService(
  meter: Meter,
  limits: TierLimits,
  tokenUsage: TokenUsageReader,
): ServiceImpl<typeof AccountService> {
  const knownScopes = scopeList(Object.values(catalog));
  return {
    async getIdentity(_req, ctx) {
      const p = callerOf(ctx);
      const windows = p.keyId === "admin" ? [] : windowsFor(p, limits);
      const limit = (name: string) => windows.find((w) => w.name === name)?.limit ?? 0;
      return {
        tenantId: p.tenantId,
        keyId: p.keyId,
        userId: p.userId ?? "",
        tier: p.tier || Tier.FREE,
        scopes: p.scopes,
        quota: { perMinute: limit("minute"), perDay: limit("day") },
        knownScopes,
        quotaWindows: (ctx.values.get(quotaKey)?.windows ?? []).map((w) => ({
          name: w.name,
          limit: w.limit,
          remaining: w.remaining,
          resetTime: timestampFromMs((windowAt(w, Date.now()).index + 1) * w.seconds * 1000),
        })),
      };
    },
    async getUsage(req, ctx) {
      const p = callerOf(ctx);
      return { usage: usageMessages(await meter.query({ ...usageFilter(req), tenantId: p.tenantId })) };
    },
    async getTokenUsage(req, ctx) {
      const p = callerOf(ctx);
      const filter = usageFilter({ ...req, method: "" });
      return { usage: await tokenUsage({ ...filter, model: req.model || undefined, tenantId: p.tenantId }) };
    },
  };
}
