/** Request ids: accepted from `X-Request-Id` or generated, returned on every response and inside every error. */
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { requestIdKey } from "../../lib/runtime/context.js";
import { acceptRequestId } from "../../lib/runtime/context.js";
import { toPublicError, withRequestId } from "../../lib/runtime/errors.js";
import type { Logger } from "../../lib/runtime/logger.js";

/**
 * Puts the request id in the call's context and response headers, and into every error as a
 * google.rpc.RequestInfo detail. Errors that are not ConnectErrors are logged and replaced by
 * a generic `internal` error. Install it outermost.
 */
export function createRequestIdInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const requestId = acceptRequestId(req.header.get("x-request-id") ?? undefined);
    req.contextValues.set(requestIdKey, requestId);
    try {
      const res = await next(req);
      res.header.set("x-request-id", requestId);
      return res;
    } catch (thrown) {
      const err = toPublicError(thrown);
      if (!(thrown instanceof ConnectError)) {
        logger.error({ err: thrown, requestId, method: `${req.service.typeName}/${req.method.name}` }, "internal error");
      }
      throw withRequestId(err, requestId);
    }
  };
}
