/**
 * The runtime every capability service shares: a grpc-js server with grpc.health.v1, server
 * reflection, per-call logging and error translation, and graceful shutdown. A service needs
 * only its handlers and one registration (see services/<name>/main.ts).
 */
import * as grpc from "@grpc/grpc-js";
import * as net from "node:net";
import type { ServiceRegistration } from "./registration.js";
import { grpcServiceFor, type ContextHook } from "./grpc-adapter.js";
import { reflectionRegistrations } from "./reflection.js";
import { createServiceHealth } from "./health.js";
import { defaultMaxMessageBytes } from "./config.js";
import { splitHostPort } from "./ports.js";
import { grpcOptions } from "./grpc-options.js";
import type { Logger } from "./logger.js";

export { register, type ServiceRegistration } from "./registration.js";

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
  /** Binds `host:port` (port 0 picks a free one) and resolves to the bound port. */
  listen(address: string): Promise<number>;
  /**
   * Graceful stop: health goes NOT_SERVING; after `drainMs` no new connection is accepted and
   * every connection is told to go away (HTTP/2 GOAWAY); in-flight calls get up to `graceMs` to
   * finish, then their connections are closed and their handlers' signals abort.
   */
  shutdown(options?: { drainMs?: number; graceMs?: number }): Promise<void>;
}

export { grpcOptions } from "./grpc-options.js";

/** `host:port` or `[v6]:port` (port 0 picks a free one). */
function parseListenAddress(address: string): { host: string; port: number } {
  const parts = splitHostPort(address);
  if (!parts) throw new Error(`listen address "${address}" must be host:port, e.g. 0.0.0.0:50051`);
  return parts;
}

/** Creates the server for the given services. */
export function createServiceServer(options: ServiceServerOptions): ServiceServer {
  const maxMessageBytes = options.maxMessageBytes ?? defaultMaxMessageBytes;
  const server = new grpc.Server(grpcOptions(maxMessageBytes));
  const names = options.services.map((s) => s.service.typeName);
  const health = createServiceHealth(names);

  const services = options.services.map((s) => s.service);
  for (const { service, impl } of [...options.services, health.registration, ...reflectionRegistrations(services)]) {
    const { definition, implementation } = grpcServiceFor(service, impl as Record<string, never>, {
      logger: options.logger,
      contextHook: options.contextHook,
      maxMessageBytes,
    });
    server.addService(definition, implementation);
  }

  const listeners: {
    listener: net.Server;
    injector: ReturnType<grpc.Server["createConnectionInjector"]>;
    sockets: Set<net.Socket>;
  }[] = [];

  return {
    async listen(address) {
      // The server's sockets are accepted here and handed to grpc-js, so that shutdown can close
      // what is still open after the grace period (grpc-js's own forceShutdown leaves sessions
      // open while channelz is disabled).
      const { host, port } = parseListenAddress(address);
      const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
      const sockets = new Set<net.Socket>();
      const listener = net.createServer((socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        injector.injectConnection(socket);
      });
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(port, host, () => resolve());
      });
      listeners.push({ listener, injector, sockets });
      return (listener.address() as net.AddressInfo).port;
    },
    async shutdown({ drainMs = 0, graceMs = 10_000 } = {}) {
      health.setAll("NOT_SERVING");
      if (drainMs > 0) await new Promise((r) => setTimeout(r, drainMs));
      for (const { listener, injector } of listeners) {
        listener.close();
        injector.drain(graceMs); // GOAWAY now; sessions still open after graceMs are destroyed
      }
      const sockets = listeners.flatMap((l) => [...l.sockets]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(
          sockets.map((socket) => new Promise((r) => (socket.destroyed ? r(undefined) : socket.once("close", r)))),
        ),
        new Promise((r) => (timer = setTimeout(r, graceMs + 100))),
      ]);
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.forceShutdown();
    },
  };
}
