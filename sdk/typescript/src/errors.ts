/**
 * FlowForgeError: a ConnectError that says what FlowForge's errors carry — the code, each bad
 * field (google.rpc.BadRequest) and the request id (google.rpc.RequestInfo) — for calls and for
 * job items alike.
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BadRequestSchema, RequestInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import type { Status } from "./gen/google/rpc/status_pb.js";

/** A field the gateway or a capability refused, and why. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** An error from FlowForge: `code`, `rawMessage`, `violations` (each bad field) and `requestId`. */
export class FlowForgeError extends ConnectError {
  // Its name stays "ConnectError": connect recognises its errors by name, not by prototype.

  /** Only errors made as FlowForgeErrors (ConnectError's own test takes any ConnectError). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === "object" &&
      value !== null &&
      Object.prototype.isPrototypeOf.call(FlowForgeError.prototype, value)
    );
  }

  constructor(...args: ConstructorParameters<typeof ConnectError>) {
    super(...args);
    // ConnectError sets its own prototype (for old targets), which would hide this class's members.
    Object.setPrototypeOf(this, new.target.prototype);
  }

  /** Each field that was wrong, as the gateway named it (`algorithm`, `items[1].text`). */
  get violations(): FieldViolation[] {
    return this.findDetails(BadRequestSchema).flatMap((d) =>
      d.fieldViolations.map((v) => ({ field: v.field, description: v.description })),
    );
  }

  /** The request id the gateway logged the call under (send `x-request-id` to choose it). */
  get requestId(): string | undefined {
    return this.findDetails(RequestInfoSchema)[0]?.requestId;
  }

  /** The code's name as gRPC spells it: `invalid_argument`, `unauthenticated`. */
  get codeName(): string {
    return Code[this.code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
  }

  /** Any error as a FlowForgeError (the gateway out of reach becomes `unavailable`). */
  static override from(reason: unknown): FlowForgeError {
    if (reason instanceof FlowForgeError) return reason;
    const err = ConnectError.from(reason);
    const code = err.code === Code.Unknown && unreachable(err) ? Code.Unavailable : err.code;
    const wrapped = new FlowForgeError(err.rawMessage, code, err.metadata, undefined, err.cause ?? reason);
    wrapped.details.push(...err.details);
    return wrapped;
  }

  /** A job item's error (a google.rpc.Status) as a FlowForgeError. */
  static fromStatus(status: Status): FlowForgeError {
    const err = new FlowForgeError(status.message, status.code as Code);
    err.details.push(
      ...status.details.map((d: Any) => ({ type: d.typeUrl.slice(d.typeUrl.lastIndexOf("/") + 1), value: d.value })),
    );
    return err;
  }
}

/** Whether an error is the gateway being out of reach (refused, not found, reset), not a service behind it. */
export function unreachable(error: unknown): boolean {
  let cause: unknown = error;
  for (let i = 0; i < 6 && cause; i++) {
    const code = (cause as { code?: unknown }).code;
    if (
      typeof code === "string" &&
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|UND_ERR_)/.test(code)
    )
      return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/** Rethrows every error of a call, unary or streamed, as a FlowForgeError. */
export const errorInterceptor: Interceptor = (next) => async (req) => {
  let res: Awaited<ReturnType<typeof next>>;
  try {
    res = await next(req);
  } catch (err) {
    throw FlowForgeError.from(err);
  }
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw FlowForgeError.from(err);
      }
    })(),
  };
};
