/**
 * Usage metering: every authenticated call, answered or refused, is recorded with its key,
 * tenant, method, outcome, bytes in and out and job items (gateway/usage/meter.ts sums and
 * writes them in batches). Install after the auth policy and before the rate limit, so calls
 * refused for quota count as errors.
 */
import type { Meter } from "../usage/meter.js";
import { principalKey } from "./auth.js";
import { jobItems } from "./job-items.js";
import type { Policy } from "./policy.js";

/** Records each call into `meter`. */
export function usagePolicy(meter: Meter): Policy {
  return (next) => async (call) => {
    const principal = call.values.get(principalKey);
    if (!principal) return next(call);
    const method = `${call.service.typeName}/${call.method.name}`;
    const event = { keyId: principal.keyId, tenantId: principal.tenantId, method };
    try {
      const answer = await next(call);
      meter.record({
        ...event,
        ok: true,
        bytesIn: call.bytesIn(),
        bytesOut: answer.bytesOut?.() ?? 0,
        jobItems: await jobItems(call),
      });
      return answer;
    } catch (err) {
      meter.record({ ...event, ok: false, bytesIn: call.bytesIn(), bytesOut: 0, jobItems: 0 });
      throw err;
    }
  };
}
