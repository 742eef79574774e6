/**
 * Serves a connect-style `ServiceImpl` (plain async functions over generated types) on a
 * grpc-js server: decoding, context (signal, deadline, headers, request id, logger), error
 * translation to gRPC status with details, and one log line per failed call. An answer larger
 * than a message may be is refused naming its largest field (grpc-js would say resource_exhausted,
 * which callers read as a rate limit).
 */
import { acceptRequestId } from "./context.js";
import type { Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call.js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { encodeStatus, invalidArgument, toPublicError, withRequestId } from "./errors.js";
import { loggerKey, requestIdKey, tenantKey } from "./context.js";
import type { Logger } from "./logger.js";
import { observeCall } from "./metrics.js";
import { trace } from "@opentelemetry/api";
import { tracing } from "./telemetry.js";

/** A service implementation seen untyped: each handler takes its input (a message or a stream of them) and the context. */
type AnyImpl = Record<string, ((input: unknown, context: HandlerContext) => unknown) | undefined>;

/** Hook that lets a process add its own per-call context values (jobs add progress, say). */
export type ContextHook = (context: HandlerContext) => void;

/** Options for grpcServiceFor. */
export interface GrpcServiceOptions {
  /** Base logger; each call gets a child with its request id and method. */
  logger: Logger;
  /** Called for every call after the standard values are set. */
  contextHook?: ContextHook;
  /** Largest answer sent, in bytes (the server's send limit). @default unbounded */
  maxMessageBytes?: number;
}

const identity = (b: Buffer) => b;

function decode<T extends DescMessage>(schema: T, bytes: Buffer) {
  try {
    return fromBinary(schema, bytes);
  } catch (cause) {
    throw invalidArgument("request", `not a valid ${schema.typeName} message`, cause);
  }
}

/** The field of `message` that takes the most bytes on the wire, by its proto name. */
function largestField(schema: DescMessage, message: Record<string, unknown>): string {
  let largest = { name: "response", bytes: 0 };
  for (const field of schema.fields) {
    const key = field.oneof?.localName ?? field.localName;
    const value = message[key] as { case?: string } | undefined;
    if (field.oneof && value?.case !== field.localName) continue;
    const bytes = toBinary(schema, create(schema, { [key]: value } as never)).length;
    if (bytes > largest.bytes) largest = { name: field.name, bytes };
  }
  return largest.name;
}

/** Encodes an answer, refusing one past `maxBytes` with invalid_argument naming its largest field. */
function encodeAnswer(schema: DescMessage, message: unknown, maxBytes: number): Buffer {
  const full = create(schema, message as never);
  const bytes = Buffer.from(toBinary(schema, full));
  if (bytes.length <= maxBytes) return bytes;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  throw invalidArgument(
    largestField(schema, full as unknown as Record<string, unknown>),
    `makes an answer of ${mib(bytes.length)}, more than the ${mib(maxBytes)} a message may carry: ask for less at once`,
  );
}

function firstString(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : undefined;
}

/**
 * The HandlerContext of one gRPC call. Built for the hot path: the abort signal, headers and
 * trailers are only created when a handler asks for them.
 */
class CallContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  readonly values = createContextValues();
  private readonly deadline: number;
  private abort?: AbortController;
  private cancelled = false;
  /** Answered: grpc-js reports every stream's close as "cancelled", answered or not. */
  settled = false;
  private headers?: Headers;
  private resHeader?: Headers;
  private resTrailer?: Headers;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly url: string,
    private readonly call: ServerSurfaceCall,
    logger: Logger,
    requestId: string,
  ) {
    const deadline = call.getDeadline();
    this.deadline = deadline instanceof Date ? deadline.getTime() : deadline;
    this.values
      .set(requestIdKey, requestId)
      .set(loggerKey, logger)
      .set(tenantKey, firstString(call.metadata, "x-flowforge-tenant") ?? "");
    call.once("cancelled", () => {
      if (this.settled) return;
      this.cancelled = true;
      this.abort?.abort(new ConnectError("call cancelled", Code.Canceled));
    });
  }

  get signal(): AbortSignal {
    if (!this.abort) {
      this.abort = new AbortController();
      if (this.cancelled) this.abort.abort(new ConnectError("call cancelled", Code.Canceled));
    }
    return this.abort.signal;
  }

  timeoutMs(): number | undefined {
    return Number.isFinite(this.deadline) ? Math.max(0, this.deadline - Date.now()) : undefined;
  }

  get requestHeader(): Headers {
    this.headers ??= metadataToHeaders(this.call.metadata);
    return this.headers;
  }

  get responseHeader(): Headers {
    this.resHeader ??= new Headers();
    return this.resHeader;
  }

  get responseTrailer(): Headers {
    this.resTrailer ??= new Headers();
    return this.resTrailer;
  }
}

function metadataToHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") headers.set(key, value);
  }
  return headers;
}

/** The grpc-js status for an error, with google.rpc.Status details and the request id. */
export function toServiceError(err: ConnectError, requestId: string): Partial<grpc.StatusObject> {
  withRequestId(err, requestId);
  const metadata = new grpc.Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(encodeStatus(err)));
  metadata.set("x-request-id", requestId);
  return { code: err.code as number as grpc.status, details: err.rawMessage, metadata };
}

/**
 * Builds the grpc-js service definition and implementation for `service` from `impl`.
 * Methods missing from `impl` answer `unimplemented`.
 */
export function grpcServiceFor(
  service: DescService,
  impl: AnyImpl,
  options: GrpcServiceOptions,
): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<Buffer, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const streamingRequest = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const streamingResponse = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: streamingRequest,
      responseStream: streamingResponse,
      requestSerialize: identity,
      requestDeserialize: identity,
      // Unary answers come encoded (checked against the size limit first); stream messages are encoded here.
      responseSerialize: streamingResponse
        ? (message: unknown) => Buffer.from(toBinary(method.output, create(method.output, message as never)))
        : (bytes: unknown) => bytes as Buffer,
      responseDeserialize: identity,
      originalName: method.localName,
    };
    implementation[method.localName] = handlerFor(service, method, impl[method.localName], options);
  }
  return { definition, implementation };
}

function handlerFor(
  service: DescService,
  method: DescMethod,
  fn: AnyImpl[string],
  options: GrpcServiceOptions,
): grpc.UntypedHandleCall {
  const path = `/${service.typeName}/${method.name}`;
  const begin = (call: ServerSurfaceCall) => {
    const requestId = acceptRequestId(firstString(call.metadata, "x-request-id"));
    const context = new CallContext(service, method, path, call, options.logger, requestId);
    options.contextHook?.(context);
    const observed = observeCall(path);
    // The grpc-js instrumentation's span of this call, when traces are on.
    if (tracing())
      trace.getActiveSpan()?.setAttributes({
        "flowforge.request_id": requestId,
        "flowforge.tenant": context.values.get(tenantKey),
      });
    /** Counts the call answered (or failed) with `code`. */
    const finish = (code: grpc.status = grpc.status.OK) => observed(grpc.status[code] ?? "UNKNOWN");
    const fail = (thrown: unknown) => {
      const err = toPublicError(thrown);
      const logger = options.logger.child({ requestId, method: path });
      if (err.code === Code.Internal || err.code === Code.Unknown) {
        logger.error({ err: err.cause ?? err, code: Code[err.code] }, "call failed");
      } else {
        logger.debug({ code: Code[err.code], msg: err.rawMessage }, "call refused");
      }
      const answer = toServiceError(err, requestId);
      finish(answer.code);
      return answer;
    };
    return { context, fail, finish };
  };
  const unimplemented = () =>
    new ConnectError(`${service.typeName}/${method.name} is not implemented`, Code.Unimplemented);
  const maxBytes = options.maxMessageBytes ?? Infinity;

  switch (method.methodKind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { context, fail, finish } = begin(call);
        const answer: grpc.sendUnaryData<unknown> = (err, res) => {
          context.settled = true;
          if (err) return callback(err);
          let bytes: Buffer;
          try {
            bytes = encodeAnswer(method.output, res, maxBytes);
          } catch (thrown) {
            return callback(fail(thrown));
          }
          finish();
          callback(null, bytes);
        };
        let result: unknown;
        try {
          if (!fn) throw unimplemented();
          result = fn(decode(method.input, call.request), context);
        } catch (err) {
          answer(fail(err));
          return;
        }
        // Synchronous handlers answer without a promise round trip.
        if (result instanceof Promise) {
          result.then(
            (res) => answer(null, res),
            (err) => answer(fail(err)),
          );
        } else {
          answer(null, result);
        }
      };
    case "server_streaming":
      return (call: grpc.ServerWritableStream<Buffer, unknown>) => {
        const { context, fail, finish } = begin(call);
        (async () => {
          if (!fn) throw unimplemented();
          for await (const res of fn(decode(method.input, call.request), context) as AsyncIterable<unknown>) {
            if (!call.write(res)) await new Promise((resolve) => call.once("drain", resolve));
          }
        })().then(
          () => {
            finish();
            call.end();
          },
          (err) => call.emit("error", fail(err)),
        );
      };
    case "client_streaming":
      return (call: grpc.ServerReadableStream<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { context, fail, finish } = begin(call);
        (async () => {
          if (!fn) throw unimplemented();
          return encodeAnswer(method.output, await fn(decodeAll(method.input, call), context), maxBytes);
        })().then(
          (bytes) => {
            finish();
            callback(null, bytes);
          },
          (err) => callback(fail(err)),
        );
      };
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<Buffer, unknown>) => {
        const { context, fail, finish } = begin(call);
        (async () => {
          if (!fn) throw unimplemented();
          for await (const res of fn(decodeAll(method.input, call), context) as AsyncIterable<unknown>) {
            if (!call.write(res)) await new Promise((resolve) => call.once("drain", resolve));
          }
        })().then(
          () => {
            finish();
            call.end();
          },
          (err) => call.emit("error", fail(err)),
        );
      };
  }
}

/**
 * Reads a grpc-js request stream message by message. Not `for await` over the stream itself:
 * Node destroys a Duplex when its async iterator finishes, which would kill the response side.
 */
async function* decodeAll<T extends DescMessage>(schema: T, stream: Readable) {
  const queue: Buffer[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  stream.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    if (queue.length >= 16) stream.pause();
    signal();
  });
  stream.on("end", () => {
    ended = true;
    signal();
  });
  stream.on("error", (err) => {
    failure = err;
    signal();
  });
  for (;;) {
    const next = queue.shift();
    if (next) {
      if (queue.length < 4) stream.resume();
      yield decode(schema, next);
      continue;
    }
    if (failure) throw failure;
    if (ended) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}
