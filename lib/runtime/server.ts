/**
 * The runtime every capability service shares: a grpc-js server with grpc.health.v1, server
 * reflection, per-call logging and error translation, and graceful shutdown. A service needs
 * only its handlers and one registration (see services/<name>/main.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { grpcServiceFor, type ContextHook } from "./grpc-adapter.js";
import { reflectionRegistrations } from "./reflection.js";
import { defaultMaxMessageBytes } from "./config.js";
import type { Logger } from "./logger.js";

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

/** Options for createServiceServer. */
export interface ServiceServerOptions {
  /** The services to serve. */
  services: ServiceRegistration[];
  /** Process logger. */
  logger: Logger;
  /** Largest message accepted or sent, in bytes. Default 32 MiB. */
  maxMessageBytes?: number;
  /** Adds per-call context values. */
  contextHook?: ContextHook;
}

/** A running (or ready to run) service server. */
export interface ServiceServer {
  /** The underlying grpc-js server. */
  readonly grpc: grpc.Server;
  /** Health status per service name ("" is the whole server). */
  readonly health: HealthImplementation;
  /** Binds `host:port` (port 0 picks a free one) and resolves to the bound port. */
  listen(address: string): Promise<number>;
  /**
   * Graceful stop: health goes NOT_SERVING, new calls are refused after `drainMs`, in-flight
   * calls get up to `graceMs` to finish before the rest are cancelled.
   */
  shutdown(options?: { drainMs?: number; graceMs?: number }): Promise<void>;
}

/** grpc-js channel and server options shared by servers and the gateway's clients. */
export function grpcOptions(maxMessageBytes: number): grpc.ChannelOptions {
  return {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
    // channelz bookkeeping costs on every call and nothing here reads it.
    "grpc.enable_channelz": 0,
  };
}

/** Creates the server for the given services. */
export function createServiceServer(options: ServiceServerOptions): ServiceServer {
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes;
  const server = new grpc.Server(grpcOptions(maxMessageBytes));
  const names = options.services.map((s) => s.service.typeName);
  const health = new HealthImplementation(Object.fromEntries(["", ...names].map((n) => [n, "SERVING" as const])));
  health.addToServer(server);

  const services = options.services.map((s) => s.service);
  for (const { service, impl } of [...options.services, ...reflectionRegistrations(services)]) {
    const { definition, implementation } = grpcServiceFor(service, impl as Record<string, never>, {
      logger: options.logger,
      contextHook: options.contextHook,
    });
    server.addService(definition, implementation);
  }

  return {
    grpc: server,
    health,
    listen: (address) =>
      new Promise((resolve, reject) =>
        server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) =>
          err ? reject(err) : resolve(port),
        ),
      ),
    async shutdown({ drainMs = 0, graceMs = 10_000 } = {}) {
      for (const name of ["", ...names]) health.setStatus(name, "NOT_SERVING");
      if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
