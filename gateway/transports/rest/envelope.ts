/**
 * The REST error envelope: `{"error": {"code", "message", "details": [{"field",
 * "message"}], "requestId"}}` with the HTTP status that fits. Connect, gRPC-Web and gRPC keep
 * their own error formats. The table from gRPC codes is the one the README documents.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, QuotaFailureSchema, RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { requestIdOf } from "#runtime/errors.js";
import { type Req, type Res, discardRest, send, toNodeHeaders } from "../node-http.js";

/** The envelope's code and the HTTP status for each gRPC code. */
export const restErrorCodes: Record<Code, { code: string; status: number }> = {
  [Code.InvalidArgument]: { code: "VALIDATION_ERROR", status: 400 },
  [Code.OutOfRange]: { code: "VALIDATION_ERROR", status: 400 },
  [Code.FailedPrecondition]: { code: "PRECONDITION_FAILED", status: 400 },
  [Code.Unauthenticated]: { code: "UNAUTHORIZED", status: 401 },
  [Code.PermissionDenied]: { code: "FORBIDDEN", status: 403 },
  [Code.NotFound]: { code: "NOT_FOUND", status: 404 },
  [Code.AlreadyExists]: { code: "CONFLICT", status: 409 },
  [Code.Aborted]: { code: "CONFLICT", status: 409 },
  [Code.ResourceExhausted]: { code: "PAYLOAD_TOO_LARGE", status: 413 },
  [Code.Canceled]: { code: "CLIENT_CLOSED_REQUEST", status: 499 },
  [Code.Unknown]: { code: "INTERNAL_ERROR", status: 500 },
  [Code.Internal]: { code: "INTERNAL_ERROR", status: 500 },
  [Code.DataLoss]: { code: "INTERNAL_ERROR", status: 500 },
  [Code.Unimplemented]: { code: "NOT_IMPLEMENTED", status: 501 },
  [Code.Unavailable]: { code: "SERVICE_UNAVAILABLE", status: 503 },
  [Code.DeadlineExceeded]: { code: "TIMEOUT", status: 504 },
};

/** Gateway refusals that are not gRPC codes: an unknown route, a wrong verb, a body in the wrong type. */
export type RestRefusal =
  | "NOT_FOUND"
  | "METHOD_NOT_ALLOWED"
  | "NOT_ACCEPTABLE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "REQUEST_HEADER_FIELDS_TOO_LARGE";
const refusalStatus: Record<RestRefusal, number> = {
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  UNSUPPORTED_MEDIA_TYPE: 415,
  REQUEST_HEADER_FIELDS_TOO_LARGE: 431,
};

/** The envelope's body. */
export interface RestError {
  error: { code: string; message: string; details: { field: string; message: string }[]; requestId: string };
}

/**
 * The envelope's code and HTTP status for a gRPC code. Out of quota (`quota`: the error carries a
 * RetryInfo or QuotaFailure) is a rate limit (429); out of room is a body or input too large (413).
 */
export function restCodeOf(grpcCode: Code, quota: boolean): { code: string; status: number } {
  if (grpcCode === Code.ResourceExhausted && quota) return rateLimited;
  return restErrorCodes[grpcCode] ?? restErrorCodes[Code.Unknown];
}

const rateLimited = { code: "RATE_LIMITED", status: 429 };

/** The HTTP status an envelope code (one restCodeOf gives) answers with. */
export function restStatusOf(code: string): number {
  if (code === rateLimited.code) return rateLimited.status;
  return Object.values(restErrorCodes).find((c) => c.code === code)?.status ?? restErrorCodes[Code.Unknown].status;
}

/** An error as the envelope and its HTTP status. */
export function restError(err: ConnectError, requestId: string): { status: number; body: RestError } {
  const quota = err.findDetails(RetryInfoSchema).length > 0 || err.findDetails(QuotaFailureSchema).length > 0;
  const { code, status } = restCodeOf(err.code, quota);
  const details = err
    .findDetails(BadRequestSchema)
    .flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, message: v.description })));
  return {
    status,
    body: { error: { code, message: err.rawMessage, details, requestId: requestIdOf(err) ?? requestId } },
  };
}

/** A gateway refusal in the envelope. */
export function restRefusal(kind: RestRefusal, message: string, requestId: string): RestAnswer {
  return { status: refusalStatus[kind], body: { error: { code: kind, message, details: [], requestId } } };
}

/** An error in the envelope with its HTTP status (what restError and restRefusal make). */
export interface RestAnswer {
  status: number;
  body: RestError;
}

/** Options for writeRestError. */
export interface RestErrorOptions {
  /** The request: what is left of its body is read and thrown away. */
  req: Req;
  res: Res;
  /** An error (its metadata become headers), or a refusal already in the envelope. */
  error: ConnectError | RestAnswer;
  requestId: string;
  /** More headers (`Allow` for a wrong verb). */
  headers?: Record<string, string>;
}

/** The one writer of a REST error answer; nothing once the answer has begun. */
export function writeRestError({ req, res, error, requestId, headers = {} }: RestErrorOptions): void {
  discardRest(req);
  if (res.headersSent || res.writableEnded) return;
  const { status, body } = error instanceof ConnectError ? restError(error, requestId) : error;
  const metadata = error instanceof ConnectError ? toNodeHeaders(error.metadata) : {};
  send(res, {
    status,
    headers: { "content-type": "application/json", ...metadata, ...headers },
    body: JSON.stringify(body),
  });
}

/**
 * A refusal as a whole HTTP/1.1 response that closes the connection, for a socket Node has not
 * made a request of (a request line or headers over its limit).
 */
export function rawRestAnswer({ status, body }: RestAnswer, reason: string): string {
  const json = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`;
}
