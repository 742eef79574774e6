/**
 * The gateway's fast path for unary calls: Connect POST in JSON or protobuf binary
 * (`application/json`, `application/proto`, uncompressed) and gRPC (`application/grpc`, HTTP/2,
 * uncompressed). Binary bodies already are the backend's wire format and are forwarded over the
 * backend's HTTP/2 channel as they are; JSON is decoded to the method's input and re-encoded (and
 * the answer back), as connect-node would. Every call runs the same policies as the rest
 * (request id, metrics, access log, auth, rate limit), and the body is read only once they let it
 * through. gRPC-Web, compressed bodies, GET and streaming calls go through connect-node.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { promisify } from "node:util";
import { brotliCompress, constants as zlibConstants, gzip } from "node:zlib";
import {
  type JsonValue,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type ContextValues } from "@connectrpc/connect";
import { parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout } from "@connectrpc/connect/protocol-grpc";
import type { Backend } from "../backends/backends.js";
import { metadataFor } from "../backends/forward.js";
import type { Answer, PolicyChain, Protocol, RequestHeaders, TransportCall } from "../policies/policy.js";
import { unaryCall } from "../backends/unary-call.js";
import { frame, unframe } from "../backends/h2-channel.js";
import { anyFault, violationFromMessage } from "./connect-errors.js";
import { fromJsonValue, gatewayJsonOptions, toJsonText } from "./json-options.js";
import { invalidArgument, toPublicError } from "#runtime/errors.js";
import { writeRpcError } from "./rpc-errors.js";
import {
  type Req,
  type Res,
  HeaderRecord,
  answerFields,
  callerGone,
  jsonContentType,
  readBody,
  requestHeaders,
} from "./node-http.js";

/** Options for createPassthrough. */
export interface PassthroughOptions {
  /** Every forwarded service with its backend. */
  routes: { service: DescService; backend: Backend }[];
  /** The gateway's policies. */
  policies: PolicyChain;
  /** Largest request body, in bytes. */
  maxRequestBytes: number;
  /** Deadline for calls that bring none. */
  defaultTimeoutMs: number;
}

/** How the call arrived: gRPC, or Connect unary in binary or JSON. */
type Kind = "grpc" | "proto" | "json";

/** Handles the request if it qualifies (returns true), else leaves it alone (returns false). */
export type Passthrough = (req: Req, res: Res, path: string) => boolean;

interface Route {
  service: DescService;
  method: DescMethod;
  backend: Backend;
}

/** A request body decoded as the method's input; bytes that are not one are the caller's bad input. */
function decodeRequest(method: DescMethod, bytes: Buffer): unknown {
  try {
    return fromBinary(method.input, bytes);
  } catch (cause) {
    throw new ConnectError(
      `the request is not a valid ${method.input.typeName}`,
      Code.InvalidArgument,
      undefined,
      undefined,
      cause,
    );
  }
}

/** The one message of a unary gRPC request body. */
function requestMessage(body: Buffer): Buffer {
  const message = unframe(body);
  if (message === "not one message")
    throw new ConnectError("a unary gRPC request carries exactly one length-prefixed message", Code.InvalidArgument);
  if (message === "compressed")
    throw new ConnectError("compressed message without grpc-encoding", Code.InvalidArgument);
  return message;
}

/** JSON text parsed, failing as protobuf-es's fromJsonString fails. */
function parseJson(text: string, typeName: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new Error(`cannot decode message ${typeName} from JSON: ${(e as Error).message}`);
  }
}

/** The JSON request as the method's input in binary; a body that does not fit names the field where it can. */
function jsonToBinary(method: DescMethod, body: Buffer): Buffer {
  let text: string;
  try {
    text = gatewayJsonOptions.textDecoder.decode(body);
  } catch (cause) {
    throw new ConnectError("request body is not valid UTF-8", Code.InvalidArgument, undefined, undefined, cause);
  }
  let message: MessageShape<DescMessage>;
  try {
    message = fromJsonValue(method.input, parseJson(text, method.input.typeName), gatewayJsonOptions);
  } catch (cause) {
    const err = ConnectError.from(cause, Code.InvalidArgument);
    const violation =
      (err.rawMessage.includes("google.protobuf.Any") ? anyFaultOf(method.input, text) : undefined) ??
      violationFromMessage(err.rawMessage, method.input);
    throw violation ? invalidArgument(violation.field, violation.description, cause) : err;
  }
  return Buffer.from(toBinary(method.input, message));
}

/** Which Any of a request protobuf-es could not decode (anyFault), from its JSON text. */
function anyFaultOf(input: DescMessage, text: string) {
  try {
    return anyFault(
      input,
      JSON.parse(text),
      (typeName) => gatewayJsonOptions.registry.getMessage(typeName) !== undefined,
    );
  } catch {
    return undefined;
  }
}

function binaryToJson(method: DescMethod, bytes: Buffer): Buffer {
  try {
    return Buffer.from(toJsonText(method.output, fromBinary(method.output, bytes), gatewayJsonOptions));
  } catch (cause) {
    throw new ConnectError(
      "the service's answer could not be written as JSON",
      Code.Internal,
      undefined,
      undefined,
      cause,
    );
  }
}

/** Connect unary answers of at least this size are compressed when the client accepts it (connect-node's default). */
const compressMinBytes = 1024;
// Brotli at quality 4: its default (11) took 600 ms for a 280 KB answer (gzip: 10 ms), a CPU
// cost any caller could ask for by listing br first.
const brotli = promisify(brotliCompress);
const compressors = {
  gzip: promisify(gzip),
  br: (data: Uint8Array) => brotli(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } }),
};

/** The first encoding of `Accept-Encoding` the gateway can write, as connect-node negotiates it. */
function responseEncoding(accepted: string | undefined): keyof typeof compressors | undefined {
  for (const name of (accepted ?? "").split(",")) {
    const n = name.trim();
    if (n === "gzip" || n === "br") return n;
  }
  return undefined;
}

/** The kind of a call the fast path takes (uncompressed, and gRPC only over HTTP/2), or undefined. */
function kindOf(req: Req): Kind | undefined {
  const contentType = req.headers["content-type"] ?? "";
  if (contentType === "application/grpc" || contentType === "application/grpc+proto") {
    const encoding = req.headers["grpc-encoding"];
    return "stream" in req && (encoding === undefined || encoding === "identity") ? "grpc" : undefined;
  }
  const encoding = req.headers["content-encoding"];
  if (encoding !== undefined && encoding !== "identity") return undefined;
  if (contentType === "application/proto") return "proto";
  return jsonContentType.test(contentType) ? "json" : undefined;
}

/** A fast-path call as the policies see it; its body is read once, when a policy or the forwarding first asks. */
class FastCall implements TransportCall {
  readonly header: RequestHeaders;
  /** The answer's headers, as the policies set them. */
  readonly answerHeader = new HeaderRecord();
  /** The backend's answer, once forwarded. */
  answer?: Buffer;
  private bytes?: Promise<Buffer>;

  private readonly route: Route;
  private readonly kind: Kind;
  private readonly req: Req;
  private readonly path: string;
  readonly values: ContextValues;
  readonly signal: AbortSignal;
  private readonly deadline: number;
  private readonly maxRequestBytes: number;

  constructor(o: {
    route: Route;
    kind: Kind;
    req: Req;
    path: string;
    values: ContextValues;
    signal: AbortSignal;
    /** Epoch milliseconds. */
    deadline: number;
    maxRequestBytes: number;
  }) {
    this.route = o.route;
    this.kind = o.kind;
    this.req = o.req;
    this.path = o.path;
    this.values = o.values;
    this.signal = o.signal;
    this.deadline = o.deadline;
    this.maxRequestBytes = o.maxRequestBytes;
    this.header = requestHeaders(o.req);
  }

  get service() {
    return this.route.service;
  }

  get method() {
    return this.route.method;
  }

  get protocol(): Protocol {
    return this.kind === "grpc" ? "grpc" : "connect";
  }

  /** Bytes of the request body read. */
  private size = 0;

  bytesIn(): number {
    return this.size;
  }

  /** The request in protobuf binary (JSON converted). */
  body(): Promise<Buffer> {
    this.bytes ??= (async () => {
      const grpcCall = this.kind === "grpc";
      const raw = await readBody(this.req, this.maxRequestBytes, grpcCall ? 5 : 0);
      this.size = raw.length;
      const message = grpcCall ? requestMessage(raw) : raw;
      return this.kind === "json" ? jsonToBinary(this.route.method, message) : message;
    })();
    return this.bytes;
  }

  async message(): Promise<unknown> {
    return decodeRequest(this.route.method, await this.body());
  }

  async forward(): Promise<Answer> {
    this.answer = await unaryCall(this.route.backend, {
      path: this.path,
      message: await this.body(),
      headers: metadataFor(this.values, this.header),
      deadline: this.deadline,
      signal: this.signal,
    });
    const size = this.answer.length;
    return { header: this.answerHeader, bytesOut: () => size };
  }
}

/** Creates the fast path for the given routes. */
export function createPassthrough(options: PassthroughOptions): Passthrough {
  const routes = new Map<string, Route>();
  for (const { service, backend } of options.routes) {
    for (const method of service.methods) {
      if (method.methodKind === "unary")
        routes.set(`/${service.typeName}/${method.name}`, { service, method, backend });
    }
  }
  async function serve(route: Route, kind: Kind, req: Req, res: Res, path: string) {
    const grpcCall = kind === "grpc";
    const caller = callerGone(res);
    // Also true before `close` is emitted: a reset stream is destroyed at once, and writing to it throws.
    const gone = () => caller.signal.aborted || ("stream" in res ? res.stream.destroyed : res.destroyed);
    const values = createContextValues();
    try {
      const timeout = grpcCall
        ? parseGrpcTimeout((req.headers["grpc-timeout"] as string | null) ?? null, 2 ** 31)
        : parseConnectTimeout((req.headers["connect-timeout-ms"] as string | null) ?? null, 2 ** 31);
      if (timeout.error) throw timeout.error;
      const call = new FastCall({
        route,
        kind,
        req,
        path,
        values,
        signal: caller.signal,
        deadline: Date.now() + (timeout.timeoutMs ?? options.defaultTimeoutMs),
        maxRequestBytes: options.maxRequestBytes,
      });
      const response = await options.policies(call);
      const answer = call.answer!;
      const out = kind === "json" ? binaryToJson(route.method, answer) : answer;
      if (grpcCall) {
        if (gone()) return;
        const h2res = res as http2.Http2ServerResponse;
        h2res.writeHead(200, { "content-type": "application/grpc", ...answerFields(response.header) });
        h2res.addTrailers({ "grpc-status": "0" });
        h2res.end(frame(out));
      } else {
        // Connect unary: trailers travel as headers prefixed with `trailer-`.
        const encoding = out.length >= compressMinBytes ? responseEncoding(req.headers["accept-encoding"]) : undefined;
        const body = encoding ? await compressors[encoding](out) : out;
        if (gone()) return;
        const headers = {
          "content-type": `application/${kind}`,
          "content-length": String(body.length),
          ...(encoding ? { "content-encoding": encoding } : {}),
          ...answerFields(response.header),
        };
        (res as http.ServerResponse).writeHead(200, headers);
        (res as http.ServerResponse).end(body);
      }
    } catch (thrown) {
      if (!gone())
        writeRpcError({ req, res, error: toPublicError(thrown), requestId: req.headers["x-request-id"] as string });
    } finally {
      caller.release();
    }
  }

  return (req, res, path) => {
    if (req.method !== "POST") return false;
    const route = routes.get(path);
    if (!route) return false;
    const kind = kindOf(req);
    if (!kind) return false;
    void serve(route, kind, req, res, path);
    return true;
  };
}
