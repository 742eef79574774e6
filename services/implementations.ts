/**
 * The handlers of every job capability, loaded on demand: the embedded jobs service runs them
 * as workers in-process, so the gateway (which imports the catalogue) never loads them.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import type { CapabilityName } from "./catalog.js";

/** Creates a capability's service implementation. */
export const implementations: Partial<Record<CapabilityName, () => Promise<Partial<ServiceImpl<DescService>>>>> = {
  crypto: async () => {
    const { createCryptoService } = await import("./crypto/service.js");
    const { cryptoLimitsFromEnv } = await import("./crypto/limits.js");
    return createCryptoService({ limits: cryptoLimitsFromEnv() }) as unknown as Partial<ServiceImpl<DescService>>;
  },
};
