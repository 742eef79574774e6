/**
 * The capability catalogue: every service the gateway routes and the launcher starts. Adding a
 * capability means adding its generated descriptor here and a `services/<name>/main.ts`.
 */
import type { DescService } from "@bufbuild/protobuf";
import { CryptoService } from "../gen/flowforge/crypto/v1/crypto_pb.js";

/** One capability service. */
export interface Capability {
  /** The generated service descriptor. */
  service: DescService;
  /** Its gRPC port when none is configured. */
  defaultPort: number;
  /** The process entry point, relative to the repository root. */
  entry: string;
}

/** Every capability, by short name (the name used in scopes, env vars and manifests). */
export const catalog = {
  crypto: { service: CryptoService, defaultPort: 50051, entry: "services/crypto/main.ts" },
} satisfies Record<string, Capability>;

/** A capability's short name. */
export type CapabilityName = keyof typeof catalog;

/** The capability that owns a fully-qualified service name, if any. */
export function capabilityOf(typeName: string): CapabilityName | undefined {
  return (Object.keys(catalog) as CapabilityName[]).find((name) => catalog[name].service.typeName === typeName);
}
