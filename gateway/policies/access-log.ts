/** One log line per call: method, outcome, duration, tenant and request id; never a body or key. */
import { Code } from "@connectrpc/connect";
import { requestIdKey, tenantKey } from "#runtime/context.js";
import { type Logger, unredacted } from "#runtime/logger.js";
import { outcomeCode } from "./outcome.js";
import type { Policy } from "./policy.js";

/** Creates the access-log policy; install it inside the request-id policy. */
export function accessLogPolicy(gatewayLogger: Logger): Policy {
  // Every field of a line is chosen here, none from a header or body: nothing to redact.
  const logger = unredacted(gatewayLogger);
  return (next) => async (call) => {
    const started = performance.now();
    const line = () => ({
      requestId: call.values.get(requestIdKey),
      tenant: call.values.get(tenantKey) || undefined,
      method: `${call.service.typeName}/${call.method.name}`,
      protocol: call.protocol,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    try {
      const answer = await next(call);
      if (logger.isLevelEnabled("info")) logger.info({ ...line(), code: "ok" }, "call");
      return answer;
    } catch (err) {
      const code = outcomeCode(call.signal, err);
      const level = code === Code.Internal || code === Code.Unknown || code === Code.DataLoss ? "error" : "info";
      logger[level]({ ...line(), code: Code[code] }, "call");
      throw err;
    }
  };
}
