/** A protobuf service paired with its implementation: what a server (or the gateway) serves. */
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

/** One protobuf service and its implementation. */
export interface ServiceRegistration<S extends DescService = DescService> {
  /** The generated service descriptor. */
  service: S;
  /** The handlers; missing methods answer `unimplemented`. */
  impl: Partial<ServiceImpl<S>>;
}

/** Pairs a descriptor with its implementation, keeping the types tied together. */
export function register<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServiceRegistration {
  return { service, impl } as unknown as ServiceRegistration;
}
