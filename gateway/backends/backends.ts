/**
 * The gateway's channels to each capability service, both balancing round robin over every
 * address DNS returns (a headless Service in Kubernetes), with keepalive and the shared message
 * limits: node:http2 for unary calls (gateway/h2-channel.ts) and grpc-js for the rest.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus,
} from "#gen/grpc/health/v1/health_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { catalog, type CapabilityName } from "../../services/catalog.js";
import { addressVariable, servicePort } from "#capability/index.js";
import { decodeStatus } from "#runtime/errors.js";
import { grpcOptions } from "#runtime/grpc-options.js";
import { createUnaryChannel, type GrpcFailure, type UnaryChannel } from "./h2-channel.js";

/** One capability's channels. */
export interface Backend {
  name: CapabilityName;
  address: string;
  /** grpc-js, for streaming calls and health checks. */
  client: grpc.Client;
  /** node:http2, for unary calls (the gateway's hot path). */
  unary: UnaryChannel;
}

/**
 * Addresses from env: `<NAME>_ADDR` (e.g. `CRYPTO_ADDR=dns:///crypto:50051`, `DATA_TRANSFORM_ADDR`
 * for `data-transform`), else the capability's name on the service port (as in compose).
 */
export function backendAddresses(env: NodeJS.ProcessEnv = process.env): Record<CapabilityName, string> {
  return Object.fromEntries(
    (Object.keys(catalog) as CapabilityName[]).map((name) => [
      name,
      env[addressVariable(name)] || `dns:///${name}:${servicePort}`,
    ]),
  ) as Record<CapabilityName, string>;
}

/** Opens the channels of every capability (they connect on first use). */
export function createBackends(
  addresses: Partial<Record<CapabilityName, string>>,
  maxMessageBytes: number,
): Map<CapabilityName, Backend> {
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
    backends.set(name, { name, address, client, unary: createUnaryChannel(address, { maxMessageBytes }) });
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

/** A grpc-js error as a GrpcFailure. */
export function failureOf(err: grpc.ServiceError): GrpcFailure {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  return { code: err.code, details: err.details, statusDetails: bin instanceof Buffer ? bin : undefined };
}

/** Converts a failed backend call into the ConnectError the caller sees, keeping the backend's details. */
export function fromGrpcError(err: GrpcFailure, backend: Backend): ConnectError {
  if (err.statusDetails) return decodeStatus(err.code, err.details, err.statusDetails);
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      return new ConnectError(
        `the ${backend.name} service is unavailable`,
        Code.Unavailable,
        undefined,
        undefined,
        err,
      );
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
