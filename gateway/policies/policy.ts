/**
 * The gateway's one chain of policies. Every call, whatever its protocol and whichever transport
 * serves it (the unary transport, connect-node for streams, REST, the OpenAI front), becomes a
 * Call and passes the same ordered policies (request id, metrics, access log, authentication,
 * rate limit, ...), each in its own file with this one interface. A policy sees the request
 * message, decoded, through `message()`; on the unary transport the body is read only when
 * something asks for it, after the policies before it (authentication) let the call through.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ContextValues } from "@connectrpc/connect";

/** How the call arrived. */
export type Protocol = "connect" | "grpc" | "grpc-web" | "rest" | "openai";

/** The request headers as policies read them (web Headers qualify; the unary transport reads node's own). */
export interface RequestHeaders {
  /** The header's value (repeated ones joined with ", "), or null; names are lower case. */
  get(name: string): string | null;
}

/** The answer headers as policies write them (web Headers qualify). */
export interface AnswerHeaders {
  set(name: string, value: string): void;
}

/** One call, as every policy sees it. */
export interface Call {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocol: Protocol;
  /** The request headers. */
  readonly header: RequestHeaders;
  /** Per-call values (request id, principal, tenant) that policies set and the transport forwards. */
  readonly values: ContextValues;
  /** Aborted when the client goes away or the deadline passes. */
  readonly signal: AbortSignal;
  /** The request message, decoded (unary calls; a stream's request is not available here). */
  message(): Promise<unknown>;
  /** The request's size in bytes as far as it was read (0 for a stream's, or before it is read). */
  bytesIn(): number;
}

/** What a policy may add to a successful answer. */
export interface Answer {
  /** Response headers. */
  header: AnswerHeaders;
  /** The answer's size in bytes, where the transport can tell (asked only by usage metering). */
  bytesOut?: () => number;
}

/** One step of the chain: a call in, its answer out. */
export type Next = (call: Call) => Promise<Answer>;

/**
 * A policy wraps the next step (composed once, as connect's interceptors are): it does its part
 * and calls `next(call)` to let the call through, or throws a ConnectError.
 */
export type Policy = (next: Next) => Next;

/** A call as a transport hands it to the chain: the innermost step asks it to forward itself. */
export interface TransportCall extends Call {
  forward(): Promise<Answer>;
}

/** The composed policies. */
export type PolicyChain = (call: TransportCall) => Promise<Answer>;

/** Chains policies, outermost first; composed once, so a call costs no closures for the chain. */
export function chainPolicies(policies: Policy[]): PolicyChain {
  return policies.reduceRight<Next>(
    (next, policy) => policy(next),
    (call) => (call as TransportCall).forward(),
  );
}

/** The RPC protocol of a call, from its content type. */
export function protocolOf(header: RequestHeaders): Protocol {
  const contentType = header.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  return contentType.startsWith("application/grpc") ? "grpc" : "connect";
}
