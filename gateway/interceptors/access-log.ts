/** One log line per call: method, outcome, duration, tenant and request id; never a body or key. */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { requestIdKey, tenantKey } from "../../lib/runtime/context.js";
import type { Logger } from "../../lib/runtime/logger.js";
import { outcomeCode, protocolOf } from "./protocol.js";

/** Creates the access-log interceptor; install it inside the request-id interceptor. */
export function createAccessLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const line = () => ({
      requestId: req.contextValues.get(requestIdKey),
      tenant: req.contextValues.get(tenantKey) || undefined,
      method: `${req.service.typeName}/${req.method.name}`,
      protocol: protocolOf(req.header),
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    try {
      const res = await next(req);
      if (logger.isLevelEnabled("info")) logger.info({ ...line(), code: "ok" }, "call");
      return res;
    } catch (err) {
      const code = outcomeCode(req.signal, err);
      const level = code === Code.Internal || code === Code.Unknown || code === Code.DataLoss ? "error" : "info";
      logger[level]({ ...line(), code: Code[code] }, "call");
      throw err;
    }
  };
}
