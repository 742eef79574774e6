/**
 * grpc-js channels from the gateway to each capability service: round_robin over every address
 * DNS returns (a headless Service in Kubernetes), keepalive, and the shared message limits.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { catalog, type CapabilityName } from "../services/catalog.js";
import { decodeStatus } from "../lib/runtime/errors.js";
import { grpcOptions } from "../lib/runtime/server.js";

/** One capability's channel. */
export interface Backend {
  name: CapabilityName;
  address: string;
  client: grpc.Client;
  /** The client's channel, for calls that bring their own bytes. */
  channel: ReturnType<grpc.Client["getChannel"]>;
}

/** Addresses from env: `<NAME>_ADDR` (e.g. `CRYPTO_ADDR=dns:///crypto:50051`), else loopback and the default port. */
export function backendAddresses(env: NodeJS.ProcessEnv = process.env): Record<CapabilityName, string> {
  return Object.fromEntries(
    (Object.keys(catalog) as CapabilityName[]).map((name) => [
      name,
      env[`${name.toUpperCase()}_ADDR`] || `127.0.0.1:${catalog[name].defaultPort}`,
    ]),
  ) as Record<CapabilityName, string>;
}

/** Opens a channel per capability. */
export function createBackends(addresses: Partial<Record<CapabilityName, string>>, maxMessageBytes: number): Map<CapabilityName, Backend> {
  const backends = new Map<CapabilityName, Backend>();
  for (const name of Object.keys(addresses) as CapabilityName[]) {
    const address = addresses[name]!;
    const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      ...grpcOptions(maxMessageBytes),
      "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.enable_retries": 0,
    });
    backends.set(name, { name, address, client, channel: client.getChannel() });
  }
  return backends;
}

/** Serving status of one backend per grpc.health.v1, within `timeoutMs`. */
export function checkBackend(backend: Backend, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    backend.client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (m: unknown) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, m as never))),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
      { service: "" },
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => resolve(err || !res ? "UNREACHABLE" : HealthCheckResponse_ServingStatus[res.status]),
    );
  });
}

/** Converts a grpc-js failure into the ConnectError the caller sees, keeping the backend's details. */
export function fromGrpcError(err: grpc.ServiceError, backend: Backend): ConnectError {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  if (bin instanceof Buffer) return decodeStatus(err.code, err.details, bin);
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return new ConnectError(`the ${backend.name} service is unavailable`, Code.Unavailable, undefined, undefined, err);
    case grpc.status.DEADLINE_EXCEEDED:
      return new ConnectError("deadline exceeded", Code.DeadlineExceeded, undefined, undefined, err);
    case grpc.status.CANCELLED:
      return new ConnectError("call cancelled", Code.Canceled, undefined, undefined, err);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new ConnectError(err.details, Code.ResourceExhausted, undefined, undefined, err);
    default:
      return new ConnectError(err.details || "backend error", err.code as number as Code, undefined, undefined, err);
  }
}
