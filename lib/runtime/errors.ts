/**
 * Error model shared by services and the gateway: ConnectError with standard codes, field
 * violations as google.rpc.BadRequest, the request id as google.rpc.RequestInfo, and the
 * translation to and from gRPC status trailers (`grpc-status-details-bin`).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create, fromBinary, toBinary, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { AnySchema, anyPack, type Any } from "@bufbuild/protobuf/wkt";
import { StatusSchema } from "#gen/google/rpc/status_pb.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RequestInfoSchema,
  RetryInfoSchema,
} from "#gen/google/rpc/error_details_pb.js";

/** Details types we know how to render, so errors can carry a readable `debug` form. */
export const errorDetailSchemas: DescMessage[] = [
  BadRequestSchema,
  RequestInfoSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
];

/** Error for bad input: `invalid_argument`, naming the field and the rule it broke. */
export function invalidArgument(field: string, description: string, cause?: unknown): ConnectError {
  return fieldError(Code.InvalidArgument, field, description, cause);
}

/**
 * An error of `code` about one field, the field named in a google.rpc.BadRequest as for bad input
 * (a `not_found` for an id that names nothing, say: callers still see which field held it).
 */
export function fieldError(code: Code, field: string, description: string, cause?: unknown): ConnectError {
  return new ConnectError(
    `${field}: ${description}`,
    code,
    undefined,
    [{ desc: BadRequestSchema, value: { fieldViolations: [{ field, description }] } }],
    cause,
  );
}

/** Throws invalid_argument for `field` unless `ok`. */
export function check(ok: boolean, field: string, description: string): asserts ok {
  if (!ok) throw invalidArgument(field, description);
}

/** True when a failure may succeed if tried again (the job workers rely on this split). */
export function isRetryable(err: unknown): boolean {
  const code = ConnectError.from(err).code;
  return (
    code === Code.Unavailable ||
    code === Code.ResourceExhausted ||
    code === Code.DeadlineExceeded ||
    code === Code.Aborted ||
    code === Code.Internal ||
    code === Code.Unknown
  );
}

/** The request id carried by an error, if any (from its RequestInfo detail). */
export function requestIdOf(err: ConnectError): string | undefined {
  return err.findDetails(RequestInfoSchema)[0]?.requestId || undefined;
}

/** Adds the request id to an error as a RequestInfo detail and header, once. */
export function withRequestId(err: ConnectError, requestId: string): ConnectError {
  if (!requestIdOf(err)) err.details.push({ desc: RequestInfoSchema, value: { requestId } });
  err.metadata.set("x-request-id", requestId);
  return err;
}

/**
 * Turns anything thrown by a handler into the error the caller may see. Errors that are not
 * ConnectErrors are internal: the caller gets a generic message, the cause stays for the log.
 */
export function toPublicError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isUnavailable(err))
    return new ConnectError("a dependency is unavailable; retry later", Code.Unavailable, undefined, undefined, err);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

const unavailableErrnos = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** Connection failures to PostgreSQL, NATS or Redis, and PostgreSQL's connection/shutdown states. */
function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return unavailableErrnos.has(code) || /^(08|57P0)/.test(code);
}

function detailsAsAny(err: ConnectError): Any[] {
  return err.details.map((d) =>
    "desc" in d
      ? anyPack(d.desc, create(d.desc, d.value))
      : create(AnySchema, { typeUrl: `type.googleapis.com/${d.type}`, value: d.value }),
  );
}

/** Serialises an error as a google.rpc.Status for the `grpc-status-details-bin` trailer. */
export function encodeStatus(err: ConnectError): Uint8Array {
  return toBinary(
    StatusSchema,
    create(StatusSchema, { code: err.code, message: err.rawMessage, details: detailsAsAny(err) }),
  );
}

/**
 * Rebuilds a ConnectError from a gRPC status code, message and optional
 * `grpc-status-details-bin` value, keeping every detail for the caller.
 */
export function decodeStatus(code: number, message: string, detailsBin?: Uint8Array): ConnectError {
  if (!detailsBin) return new ConnectError(message, code as Code);
  const status = fromBinary(StatusSchema, detailsBin);
  const err = new ConnectError(status.message || message, (status.code || code) as Code);
  for (const any of status.details) {
    const type = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    const schema = errorDetailSchemas.find((s) => s.typeName === type);
    let debug: JsonValue | undefined;
    try {
      debug = schema ? toJson(schema, fromBinary(schema, any.value)) : undefined;
    } catch {
      // Undecodable detail: pass it on without the readable form.
    }
    err.details.push({ type, value: any.value, debug });
  }
  return err;
}
