/** Rate limits by the key's tier: a token bucket per API key, refused with `resource_exhausted`. */
import { getOption, type DescField, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { rate_limit_per_item, Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import type { Decision, Limit, RateLimiter } from "#limits/types.js";
import type { Logger } from "#runtime/logger.js";
import { principalKey } from "./auth.js";
import type { Policy } from "./policy.js";

/** Limits per tier; a missing tier is unlimited. */
export type TierLimits = Partial<Record<Tier, Limit>>;

/** Defaults: free 10/s (burst 20), pro 100/s (burst 200), enterprise unlimited. */
export const defaultTierLimits: TierLimits = {
  [Tier.FREE]: { ratePerSec: 10, burst: 20 },
  [Tier.PRO]: { ratePerSec: 100, burst: 200 },
};

/**
 * Parses `RATE_LIMITS`, e.g. `free=10:20,pro=100:200,enterprise=0` (rate per second : burst;
 * 0 means unlimited). Throws on a malformed value.
 */
export function parseTierLimits(text: string | undefined): TierLimits {
  if (!text) return defaultTierLimits;
  const limits: TierLimits = { ...defaultTierLimits };
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(free|pro|enterprise)=(\d+(?:\.\d+)?)(?::(\d+))?$/i.exec(part);
    if (!m) throw new Error(`RATE_LIMITS: cannot read "${part}" (expected tier=rate[:burst])`);
    const tier = Tier[m[1].toUpperCase() as keyof typeof Tier];
    const rate = Number(m[2]);
    if (rate === 0) delete limits[tier];
    else limits[tier] = { ratePerSec: rate, burst: Number(m[3] ?? Math.max(1, Math.ceil(rate * 2))) };
  }
  return limits;
}

/** Options for rateLimitPolicy. */
export interface RateLimitOptions {
  limiter: RateLimiter;
  limits: TierLimits;
  logger: Logger;
}

/** The repeated input field marked `(flowforge.common.v1.rate_limit_per_item)`, if the method has one. */
const perItemFields = new WeakMap<DescMethod, DescField | null>();
function perItemField(method: DescMethod): DescField | undefined {
  let field = perItemFields.get(method);
  if (field === undefined) {
    field = method.input.fields.find((f) => f.fieldKind === "list" && getOption(f, rate_limit_per_item)) ?? null;
    perItemFields.set(method, field);
  }
  return field ?? undefined;
}

/**
 * Install after the auth policy (it needs the principal). A call costs one request, or for a
 * method with a per-item field (a job batch) one per item: the request is read for that, after
 * authentication.
 */
export function rateLimitPolicy(options: RateLimitOptions): Policy {
  return (next) => async (call) => {
    const principal = call.values.get(principalKey);
    const limit = principal ? options.limits[principal.tier || Tier.FREE] : undefined;
    if (!principal || !limit) return next(call);
    const field = call.method.methodKind === "unary" ? perItemField(call.method) : undefined;
    const items = field ? ((await call.message()) as Record<string, unknown[]>)[field.localName].length : 0;
    const cost = Math.max(1, items);
    let decision: Decision;
    try {
      decision = await options.limiter.take(`key:${principal.keyId}`, limit, cost);
    } catch (err) {
      options.logger.warn({ err }, "rate limiter unavailable; letting the call through");
      return next(call);
    }
    if (!decision.allowed) {
      const what = cost > 1 ? `a batch of ${cost} items counts ${cost} requests: ` : "";
      const err = new ConnectError(
        `${what}rate limit of ${limit.ratePerSec} requests/s (burst ${limit.burst}) for tier ${Tier[principal.tier || Tier.FREE]} exceeded; retry in ${decision.retryAfterMs} ms`,
        Code.ResourceExhausted,
        { "retry-after": String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) },
        [{ desc: RetryInfoSchema, value: { retryDelay: durationFromMs(decision.retryAfterMs) } }],
      );
      throw err;
    }
    const answer = await next(call);
    answer.header.set("x-ratelimit-remaining", String(decision.remaining));
    return answer;
  };
}
