/**
 * connect-node's transport (gRPC-Web, compressed bodies, GET, streams): the gateway's policies run
 * as the router's one interceptor, on the message connect-node has decoded. Answer headers set by
 * a policy land in the response.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { protocolOf, type Call, type PolicyChain } from "../policies/policy.js";

/** The policies as a connect interceptor. */
export function policyInterceptor(policies: PolicyChain): Interceptor {
  return (next) => async (req) => {
    const call: Call = {
      service: req.service,
      method: req.method,
      protocol: protocolOf(req.header),
      header: req.header,
      values: req.contextValues,
      signal: req.signal,
      message: async () => {
        if (req.stream) throw new ConnectError("a stream's request is not available to the gateway's policies", Code.Internal);
        return req.message;
      },
    };
    let res: UnaryResponse | StreamResponse | undefined;
    await policies(call, async () => {
      res = await next(req);
      return { header: res.header };
    });
    return res!;
  };
}
