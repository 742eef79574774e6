/** What every REST route kind shares: the transport's options and the implementation of every method. */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { BlobStore } from "#blobs/index.js";
import type { Logger } from "#runtime/logger.js";
import type { ServiceRegistration } from "#runtime/registration.js";
import type { PolicyChain } from "../../policies/policy.js";

/** A method's implementation (forwarded or local). */
export type Impl = (request: unknown, context: HandlerContext) => unknown;

/** Options for createRest. */
export interface RestOptions {
  /** Every service the gateway serves (forwarded and local), with its implementation. */
  services: ServiceRegistration[];
  /** The gateway's policies. */
  policies: PolicyChain;
  /** Largest request body, in bytes. */
  maxRequestBytes: number;
  /** Deadline for calls that bring none. */
  defaultTimeoutMs: number;
  /** Whether a service's methods can run as jobs (they get `:batch` routes). */
  batchable: (service: DescService) => boolean;
  logger: Logger;
  /** The blob store: form parts too large to inline go there, and answers that are blobs come from it. */
  store?: BlobStore;
}

/** The transport's options and the implementation of every method it serves. */
export interface RestContext {
  options: RestOptions;
  /** A method's implementation; `unimplemented` when no service here has it. */
  implOf(method: DescMethod): Impl;
}
