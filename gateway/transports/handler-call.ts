/**
 * A call a transport answers by running a service implementation in the gateway (REST, the
 * OpenAI-compatible front): what the policy chain sees, its input decoded once when first asked,
 * and its answer written by the transport when the chain lets it through.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  createHandlerContext,
  type HandlerContext,
} from "@connectrpc/connect";
import type { Answer, Protocol, TransportCall } from "../policies/policy.js";

/** Options for HandlerCall. */
export interface HandlerCallOptions {
  service: DescService;
  method: DescMethod;
  protocol: Protocol;
  header: Headers;
  /** Aborted when the caller goes away. */
  signal: AbortSignal;
  /** Per-call values the policies set. @default new ones */
  values?: ContextValues;
  /** Builds the input (reading the body); called once, when the chain or the call first asks. */
  input: () => Promise<unknown>;
  /** Answers the call; resolves to the bytes it wrote or will write. */
  run: (input: unknown, context: HandlerContext) => Promise<number>;
  /** Deadline; none for a stream. */
  timeoutMs?: number;
  /** The request body's size, once read. */
  bytesIn: () => number;
}

/** Why a finished call's context is ended. */
const callEnded = new ConnectError("the call has ended", Code.Canceled);

/** What runInContext builds a handler context from. */
export interface ContextOptions {
  service: DescService;
  method: DescMethod;
  protocol: Protocol;
  requestMethod: string;
  url: string;
  timeoutMs?: number;
  signal: AbortSignal;
  header: Headers;
  values: ContextValues;
}

/**
 * Runs an implementation in the gateway with a handler context, and ends the context when it is
 * done: its deadline timer and the listener it keeps on the request's signal go now, not when the
 * deadline passes (under load that held every call of the last minutes in memory). One reason
 * for all: abort() without one makes a DOMException, stack trace and all, per call.
 */
export async function runInContext<T>(o: ContextOptions, run: (context: HandlerContext) => Promise<T>): Promise<T> {
  const context = createHandlerContext({
    service: o.service,
    method: o.method,
    protocolName: o.protocol,
    requestMethod: o.requestMethod,
    url: o.url,
    timeoutMs: o.timeoutMs,
    requestSignal: o.signal,
    requestHeader: o.header,
    contextValues: o.values,
  });
  try {
    return await run(context);
  } finally {
    context.abort(callEnded);
  }
}

/** A call answered in the gateway, as the policies see it. */
export class HandlerCall implements TransportCall {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocol: Protocol;
  readonly header: Headers;
  readonly values: ContextValues;
  readonly signal: AbortSignal;
  private input?: Promise<unknown>;

  constructor(private readonly o: HandlerCallOptions) {
    this.service = o.service;
    this.method = o.method;
    this.protocol = o.protocol;
    this.header = o.header;
    this.values = o.values ?? createContextValues();
    this.signal = o.signal;
  }

  message(): Promise<unknown> {
    this.input ??= this.o.input();
    return this.input;
  }

  bytesIn(): number {
    return this.o.bytesIn();
  }

  async forward(): Promise<Answer> {
    const written = await runInContext(
      {
        service: this.service,
        method: this.method,
        protocol: this.protocol,
        requestMethod: "POST",
        url: "",
        timeoutMs: this.o.timeoutMs,
        signal: this.signal,
        header: this.header,
        values: this.values,
      },
      async (context) => this.o.run(await this.message(), context),
    );
    return { header: new Headers(), bytesOut: () => written };
  }
}
