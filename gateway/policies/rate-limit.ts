/**
 * Quotas by the key's tier (the README's table): requests per minute and per UTC day, both
 * counted at once (exact across replicas through Redis, in memory embedded), overridable per key.
 * Every answer carries the IETF draft's `RateLimit-Policy` and `RateLimit` headers; a refusal is
 * `resource_exhausted` with `Retry-After`, a google.rpc.RetryInfo and a QuotaFailure.
 */
import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { QuotaFailureSchema, RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import type { Decision, RateLimiter, Window } from "#limits/types.js";
import type { Logger } from "#runtime/logger.js";
import type { Principal } from "../auth/key-store.js";
import { principalKey } from "./auth.js";
import { jobItems } from "./job-items.js";
import type { Policy } from "./policy.js";

/** A tier's quotas; 0 is unlimited. */
export interface TierQuota {
  perMinute: number;
  perDay: number;
}

/** Quotas per tier. */
export type TierLimits = Record<Tier.FREE | Tier.BASIC | Tier.PRO | Tier.ENTERPRISE, TierQuota>;

/** The default tiers; enterprise is unlimited under a fair-use ceiling per minute. */
export const defaultTierLimits: TierLimits = {
  [Tier.FREE]: { perMinute: 100, perDay: 1_000 },
  [Tier.BASIC]: { perMinute: 500, perDay: 10_000 },
  [Tier.PRO]: { perMinute: 2_000, perDay: 50_000 },
  [Tier.ENTERPRISE]: { perMinute: 20_000, perDay: 0 },
};

/**
 * Parses `TIER_LIMITS`, e.g. `free=100:1000,enterprise=50000:0` (per minute : per day; 0 is
 * unlimited); tiers not named keep their defaults. Throws naming the part it cannot read.
 */
export function parseTierLimits(text: string | undefined): TierLimits {
  const limits: TierLimits = { ...defaultTierLimits };
  for (const part of (text ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(free|basic|pro|enterprise)=(\d+):(\d+)$/i.exec(part);
    if (!m) throw new Error(`TIER_LIMITS: cannot read "${part}" (expected tier=perMinute:perDay, 0 for unlimited)`);
    const tier = Tier[m[1].toUpperCase() as "FREE"] as keyof TierLimits;
    limits[tier] = { perMinute: Number(m[2]), perDay: Number(m[3]) };
  }
  return limits;
}

/** The windows a principal is counted in: its tier's, with the key's own quotas over them. */
export function windowsFor(principal: Principal, limits: TierLimits): Window[] {
  const tier = (limits[principal.tier as keyof TierLimits] ? principal.tier : Tier.FREE) as keyof TierLimits;
  const perMinute = principal.quota?.perMinute ?? limits[tier].perMinute;
  const perDay = principal.quota?.perDay ?? limits[tier].perDay;
  const windows: Window[] = [];
  if (perMinute > 0) windows.push({ name: "minute", limit: perMinute, seconds: 60 });
  if (perDay > 0) windows.push({ name: "day", limit: perDay, seconds: 86_400 });
  return windows;
}

/** `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers) for a decision. */
export function rateLimitHeaders(decision: Decision): Record<string, string> {
  return {
    "ratelimit-policy": decision.windows.map((w) => `"${w.name}";q=${w.limit};w=${w.seconds}`).join(", "),
    ratelimit: decision.windows.map((w) => `"${w.name}";r=${w.remaining};t=${w.resetSeconds}`).join(", "),
  };
}

/** The caller's quota windows as this call left them (unset: not counted, or the store did not answer). */
export const quotaKey = createContextKey<Decision | undefined>(undefined, { description: "quota" });

/** Options for rateLimitPolicy. */
export interface RateLimitOptions {
  limiter: RateLimiter;
  limits: TierLimits;
  logger: Logger;
}

/**
 * Install after the auth policy (it needs the principal). A call costs one request, or for a
 * method with a per-item field (a job batch) one per item: the request is read for that, after
 * authentication. The operator key is not counted.
 */
export function rateLimitPolicy(options: RateLimitOptions): Policy {
  return (next) => async (call) => {
    const principal = call.values.get(principalKey);
    if (!principal || principal.keyId === "admin") return next(call);
    const windows = windowsFor(principal, options.limits);
    if (windows.length === 0) return next(call);
    const cost = Math.max(1, await jobItems(call));
    const tierName = Tier[principal.tier || Tier.FREE];
    const tooBig = windows.find((w) => cost > w.limit);
    if (tooBig)
      throw new ConnectError(
        `a batch of ${cost} items counts ${cost} requests, more than the ${tooBig.limit} per ${tooBig.name} of tier ${tierName}`,
        Code.ResourceExhausted,
        undefined,
        [quotaFailure(principal, tooBig, cost)],
      );
    let decision: Decision;
    try {
      decision = await options.limiter.consume(`key:${principal.keyId}`, windows, cost);
    } catch (err) {
      options.logger.warn({ err }, "quota store unavailable; letting the call through");
      return next(call);
    }
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      const exhausted = decision.windows.find((w) => w.remaining < cost) ?? decision.windows[0];
      const what = cost > 1 ? `a batch of ${cost} items counts ${cost} requests: ` : "";
      throw new ConnectError(
        `${what}quota of ${exhausted.limit} requests per ${exhausted.name} for tier ${tierName} used up; retry in ${Math.ceil(decision.retryAfterMs / 1000)} s`,
        Code.ResourceExhausted,
        { ...headers, "retry-after": String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))) },
        [
          { desc: RetryInfoSchema, value: { retryDelay: durationFromMs(decision.retryAfterMs) } },
          quotaFailure(principal, exhausted, cost),
        ],
      );
    }
    call.values.set(quotaKey, decision);
    const answer = await next(call);
    for (const [k, v] of Object.entries(headers)) answer.header.set(k, v);
    return answer;
  };
}

function quotaFailure(principal: Principal, window: Window, cost: number) {
  return {
    desc: QuotaFailureSchema,
    value: {
      violations: [
        {
          subject: `key:${principal.keyId}`,
          description: `${window.limit} requests per ${window.name}; this call counts ${cost}`,
        },
      ],
    },
  };
}
