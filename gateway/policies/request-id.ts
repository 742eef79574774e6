/** Request ids: accepted from `X-Request-Id` or generated, returned on every answer and inside every error. */
import { ConnectError } from "@connectrpc/connect";
import { acceptRequestId, requestIdKey } from "#runtime/context.js";
import { toPublicError, withRequestId } from "#runtime/errors.js";
import type { Logger } from "#runtime/logger.js";
import type { Policy } from "./policy.js";

/**
 * Puts the request id in the call's values and answer headers, and into every error as a
 * google.rpc.RequestInfo detail. Errors that are not ConnectErrors are logged and replaced by a
 * generic `internal` error. Install it outermost.
 */
export function requestIdPolicy(logger: Logger): Policy {
  return (next) => async (call) => {
    const requestId = acceptRequestId(call.header.get("x-request-id") ?? undefined);
    call.values.set(requestIdKey, requestId);
    try {
      const answer = await next(call);
      answer.header.set("x-request-id", requestId);
      return answer;
    } catch (thrown) {
      const err = toPublicError(thrown);
      if (!(thrown instanceof ConnectError)) {
        logger.error(
          { err: thrown, requestId, method: `${call.service.typeName}/${call.method.name}` },
          "internal error",
        );
      }
      throw withRequestId(err, requestId);
    }
  };
}
