/**
 * connect-node's transport (gRPC-Web, compressed bodies, GET, streams): the gateway's policies run
 * as the router's one interceptor, on the message connect-node has decoded. Answer headers set by
 * a policy land in the response.
 */
import { toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { protocolOf, type Answer, type PolicyChain, type Protocol, type TransportCall } from "../policies/policy.js";

type Request = UnaryRequest | StreamRequest;
type Response = UnaryResponse | StreamResponse;

/** A connect-node call as the policies see it. */
class ConnectCall implements TransportCall {
  response?: Response;
  private knownProtocol?: Protocol;

  constructor(
    private readonly req: Request,
    private readonly next: (req: Request) => Promise<Response>,
  ) {}

  get service() {
    return this.req.service;
  }

  get method() {
    return this.req.method;
  }

  get protocol(): Protocol {
    this.knownProtocol ??= protocolOf(this.req.header);
    return this.knownProtocol;
  }

  get header() {
    return this.req.header;
  }

  get values() {
    return this.req.contextValues;
  }

  get signal() {
    return this.req.signal;
  }

  async message(): Promise<unknown> {
    if (this.req.stream)
      throw new ConnectError("a stream's request is not available to the gateway's policies", Code.Internal);
    return this.req.message;
  }

  bytesIn(): number {
    return this.req.stream ? 0 : toBinary(this.req.method.input, this.req.message).length;
  }

  async forward(): Promise<Answer> {
    const response = await this.next(this.req);
    this.response = response;
    // Re-encoded only when metering asks (an authenticated unary call), not on every answer.
    const bytesOut = () => (response.stream ? 0 : toBinary(this.req.method.output, response.message).length);
    return { header: response.header, bytesOut };
  }
}

/** The policies as a connect interceptor. */
export function policyInterceptor(policies: PolicyChain): Interceptor {
  return (next) => async (req) => {
    const call = new ConnectCall(req, next as (req: Request) => Promise<Response>);
    try {
      await policies(call);
    } catch (err) {
      // The answer's headers carry the request id already (gateway/transports/http.ts); in the
      // trailers as well, a client merging the two reads it twice ("id, id").
      if (err instanceof ConnectError) err.metadata.delete("x-request-id");
      throw err;
    }
    return call.response as never;
  };
}
