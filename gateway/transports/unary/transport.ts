/**
 * The gateway's transport for every unary call, on every RPC protocol (wire.ts): the call passes
 * the policies once, its body is read only when they let it through (authentication first),
 * and it is answered by the capability's backend over HTTP/2 (the request's protobuf bytes as
 * they came, JSON converted) or, for the gateway's own services, by their implementation here.
 * Streaming calls go through connect-node (http.ts).
 */
import { create, type DescMethod, type DescService, toBinary } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { runInContext } from "../handler-call.js";
import { toPublicError } from "#runtime/errors.js";
import type { ServiceRegistration } from "#runtime/registration.js";
import type { Backend } from "../../backends/backends.js";
import { metadataFor } from "../../backends/forward.js";
import { unaryCall } from "../../backends/unary-call.js";
import type { Answer, PolicyChain, RequestHeaders, TransportCall } from "../../policies/policy.js";
import {
  HeaderRecord,
  type Req,
  type Res,
  callerGone,
  discardRest,
  headersOf,
  requestHeaders,
  send,
} from "../node-http.js";
import { writeRpcError } from "../rpc-errors.js";
import { decodeInput, encodeAnswer, type RequestMessage, readMessage, type Wire, wireOf, writeAnswer } from "./wire.js";

/** A unary method implemented in the gateway (AdminService, AccountService, Health, ...). */
type LocalMethod = (request: unknown, context: HandlerContext) => unknown;

/** Options for createUnaryTransport. */
export interface UnaryTransportOptions {
  /** Every forwarded service with its backend. */
  forwarded: { service: DescService; backend: Backend }[];
  /** The services the gateway implements itself. */
  local: ServiceRegistration[];
  /** The gateway's policies. */
  policies: PolicyChain;
  /** Largest request body, in bytes (on the wire and inflated). */
  maxRequestBytes: number;
  /** Deadline of forwarded calls that bring none. */
  defaultTimeoutMs: number;
}

/** Serves the request if it is a unary call it can read (returns true), else leaves it alone. */
export type UnaryTransport = (req: Req, res: Res, path: string) => boolean;

interface Route {
  service: DescService;
  method: DescMethod;
  /** Where a forwarded method goes. */
  backend?: Backend;
  /** A local method's implementation. */
  local?: LocalMethod;
}

/** Options for UnaryCall. */
interface UnaryCallOptions {
  route: Route;
  wire: Wire;
  req: Req;
  path: string;
  signal: AbortSignal;
  /** Epoch milliseconds; forwarded calls only. */
  deadline: number;
  maxRequestBytes: number;
}

/** A unary call as the policies see it; its body is read once, when a policy or the answering first asks. */
class UnaryCall implements TransportCall {
  readonly header: RequestHeaders;
  readonly values: ContextValues = createContextValues();
  /** The answer's headers, as the policies set them. */
  readonly answerHeader = new HeaderRecord();
  /** The answer in binary, once there is one. */
  output?: Buffer;
  private request?: Promise<RequestMessage>;
  private size = 0;

  constructor(private readonly o: UnaryCallOptions) {
    this.header = requestHeaders(o.req);
  }

  get service() {
    return this.o.route.service;
  }

  get method() {
    return this.o.route.method;
  }

  get protocol() {
    return this.o.wire.protocol;
  }

  get signal() {
    return this.o.signal;
  }

  bytesIn(): number {
    return this.size;
  }

  /** The request in protobuf binary. */
  private async binary(): Promise<Buffer> {
    this.request ??= readMessage(this.o.req, {
      wire: this.o.wire,
      method: this.method,
      limit: this.o.maxRequestBytes,
    }).then((m) => {
      this.size = m.size;
      return m;
    });
    return (await this.request).binary;
  }

  async message(): Promise<unknown> {
    return decodeInput(this.method, await this.binary());
  }

  async forward(): Promise<Answer> {
    const { route } = this.o;
    if (route.backend) {
      this.output = await unaryCall(route.backend, {
        path: this.o.path,
        message: await this.binary(),
        headers: metadataFor(this.values, this.header),
        deadline: this.o.deadline,
        signal: this.signal,
      });
    } else {
      this.output = await this.answerHere(route.local!);
    }
    const size = this.output.length;
    return { header: this.answerHeader, bytesOut: () => size };
  }

  /** Runs a local implementation with the call's values, headers and deadline. */
  private answerHere(local: LocalMethod): Promise<Buffer> {
    const about = {
      service: this.service,
      method: this.method,
      protocol: this.protocol,
      requestMethod: this.o.req.method ?? "POST",
      url: this.o.path,
      timeoutMs: this.o.wire.timeoutMs,
      signal: this.signal,
      header: headersOf(this.o.req),
      values: this.values,
    };
    return runInContext(about, async (context) => {
      const output = await local(await this.message(), context);
      context.responseHeader.forEach((value, name) => {
        this.answerHeader.set(name, value);
      });
      return Buffer.from(toBinary(this.method.output, create(this.method.output, output as never)));
    });
  }
}

/** A call the transport serves. */
interface Served {
  route: Route;
  wire: Wire;
  req: Req;
  res: Res;
  path: string;
}

/** An HTTP refusal without a body (what connect-node answers for a wrong verb or media type). */
function refuse(req: Req, res: Res, { status, allow }: { status: 405 | 415; allow?: string }) {
  discardRest(req);
  send(res, { status, headers: allow ? { allow } : {} });
}

/** Creates the transport for the given services. */
export function createUnaryTransport(options: UnaryTransportOptions): UnaryTransport {
  const routes = new Map<string, Route>();
  const add = (service: DescService, route: (method: DescMethod) => Omit<Route, "service" | "method">) => {
    for (const method of service.methods)
      if (method.methodKind === "unary")
        routes.set(`/${service.typeName}/${method.name}`, { service, method, ...route(method) });
  };
  for (const { service, backend } of options.forwarded) add(service, () => ({ backend }));
  for (const { service, impl } of options.local) {
    add(service, (method) => {
      const fn = (impl as Record<string, LocalMethod | undefined>)[method.localName];
      return {
        local:
          fn?.bind(impl) ??
          (() => {
            throw new ConnectError(`${service.typeName}/${method.name} is not implemented`, Code.Unimplemented);
          }),
      };
    });
  }

  async function serve({ route, wire, req, res, path }: Served) {
    const caller = callerGone(res);
    // Also true before `close` is emitted: a reset stream is destroyed at once, and writing to it throws.
    const gone = () => caller.signal.aborted || ("stream" in res ? res.stream.destroyed : res.destroyed);
    try {
      if (wire.error) throw wire.error;
      const call = new UnaryCall({
        route,
        wire,
        req,
        path,
        signal: caller.signal,
        deadline: Date.now() + (wire.timeoutMs ?? options.defaultTimeoutMs),
        maxRequestBytes: options.maxRequestBytes,
      });
      await options.policies(call);
      const answer = await encodeAnswer(wire, route.method, call.output!);
      if (!gone()) writeAnswer(res, { wire, answer, headers: call.answerHeader.fields });
    } catch (thrown) {
      if (!gone())
        writeRpcError({ req, res, error: toPublicError(thrown), requestId: req.headers["x-request-id"] as string });
    } finally {
      caller.release();
    }
  }

  return (req, res, path) => {
    const route = routes.get(path);
    if (!route) return false;
    const wire = wireOf(req);
    // As connect-node answers them: GET only for methods without side effects, and only with an
    // encoding; nothing but GET and POST; a body in a type no protocol reads (gRPC needs HTTP/2).
    if (req.method !== "GET" && req.method !== "POST") refuse(req, res, { status: 405, allow: "GET, POST" });
    else if (wire?.query && route.method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS)
      refuse(req, res, { status: 405, allow: "POST" });
    else if (!wire) refuse(req, res, { status: 415 });
    else void serve({ route, wire, req, res, path });
    return true;
  };
}
