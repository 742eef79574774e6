/** Composes the gateway: backends, key store, the policy chain, local services and the transports. */
import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { AdminService } from "#gen/flowforge/admin/v1/admin_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "#gen/grpc/health/v1/health_pb.js";
import { register, type ServiceRegistration } from "#runtime/registration.js";
import { reflectionRegistrations } from "#runtime/reflection.js";
import type { Logger } from "#runtime/logger.js";
import type { Sql } from "#db/sql.js";
import type { ProcessState } from "#launcher/supervisor.js";
import { catalog, runsAsJobs, type CapabilityName } from "../services/catalog.js";
import { type Backend, checkBackend, createBackends } from "./backends/backends.js";
import { createForwardingService } from "./backends/forward.js";
import { createAdminService } from "./admin-service.js";
import { createAccountService } from "./account-service.js";
import { AccountService } from "#gen/flowforge/account/v1/account_pb.js";
import { BlobService } from "#gen/flowforge/blob/v1/blob_pb.js";
import type { BlobStore } from "#blobs/index.js";
import { createBlobService } from "./blob-service.js";
import { createMeter } from "./usage/meter.js";
import { queryTokenUsage, type TokenUsageReader } from "./usage/token-usage.js";
import { usagePolicy } from "./policies/usage.js";
import { createKeyStore } from "./auth/key-store.js";
import { createJwtVerifier, type JwtOptions } from "./auth/jwt.js";
import { admit, authPolicy } from "./policies/auth.js";
import { requestIdPolicy } from "./policies/request-id.js";
import { accessLogPolicy } from "./policies/access-log.js";
import { createGatewayMetrics } from "./policies/metrics.js";
import { rateLimitPolicy, defaultTierLimits, type TierLimits } from "./policies/rate-limit.js";
import { chainPolicies } from "./policies/policy.js";
import { tracingPolicy } from "./policies/tracing.js";
import { tracing } from "#runtime/telemetry.js";
import { createMemoryLimiter, type RateLimiter } from "#limits/index.js";
import { createGatewayHandler } from "./transports/http.js";
import { createRest } from "./transports/rest/rest.js";
import { createOpenAiFront } from "./transports/openai/openai.js";
import { prefixOf } from "./transports/rest/templates.js";
import { createDocs } from "./transports/docs.js";
import { createConsole } from "./transports/console.js";
import { type CapabilityInfo, createCapabilityInfo } from "./transports/capability-info.js";
import { createStatusReport } from "./health.js";

/** Resolves when the NATS server at `url` answers a round trip. */
async function pingNats(url: string) {
  const { connect } = await import("@nats-io/transport-node"); // loaded only where NATS is used
  const nc = await connect({ servers: url, timeout: 2000, reconnect: false });
  try {
    await nc.flush();
  } finally {
    await nc.close();
  }
}
import { createUnaryTransport } from "./transports/unary/transport.js";
import { createDualServer, type DualServerOptions } from "./transports/listener.js";

/** Options for createGateway. */
export interface GatewayOptions {
  sql: Sql;
  logger: Logger;
  /** Backend address per service; services not listed are not routed. */
  addresses: Partial<Record<CapabilityName, string>>;
  /** The operator key, if any. */
  adminKey?: string;
  /** Largest request body. */
  maxRequestBytes: number;
  /** Deadline for unary calls that bring none. */
  defaultTimeoutMs: number;
  /** Allowed CORS origins. */
  corsOrigins: string[];
  /** The gateway's URL as callers reach it: the OpenAPI document's server (default: each request's own host). */
  publicUrl?: string;
  /** API key lookup cache lifetime. */
  keyCacheTtlMs?: number;
  /** Rate limiter; default in memory. */
  limiter?: RateLimiter;
  /** Limits per tier; default defaultTierLimits. */
  tierLimits?: TierLimits;
  /** First-request timeout and connection caps (see createDualServer). */
  connections?: DualServerOptions;
  /** JWT bearer tokens: where the keys are and how claims map (off without a JWKS URL or keys). */
  jwt?: JwtOptions;
  /** Accept HTTP Basic with the API key as the password. */
  basicAuth?: boolean;
  /** How often metered usage is written. Default 5 s. */
  usageFlushMs?: number;
  /** The version `/health` reports. */
  version?: string;
  /** NATS, when the job bus runs on it: `/health` checks it. */
  natsUrl?: string;
  /** The blob store BlobService and the REST file forms use (no BlobService without one). */
  blobs?: BlobStore;
  /** The processes of `npm start` as the launcher last reported them (none outside the launcher). */
  processes?: () => ProcessState[] | undefined;
}

/** What `GET /healthz` answers. */
export interface HealthReport {
  status: "SERVING" | "NOT_SERVING";
  /** Each routed service's grpc.health.v1 status. */
  services: Record<string, string>;
  database: string;
  /** Under `npm start`: every supervised process, its state, restarts and last exit. */
  processes?: Record<string, Omit<ProcessState, "name">>;
}

/** A gateway ready to listen. */
export interface Gateway {
  /** Health of every backend and the database. */
  health(): Promise<{ ok: boolean; body: HealthReport }>;
  /** Its metrics in Prometheus text (calls by method, code and protocol; the process). */
  metrics(): Promise<string>;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/** Builds the gateway. */
export function createGateway(options: GatewayOptions): Gateway {
  const backends = createBackends(options.addresses, options.maxRequestBytes);
  const keys = createKeyStore({ sql: options.sql, adminKey: options.adminKey, cacheTtlMs: options.keyCacheTtlMs });
  const authenticators = { keys, jwt: options.jwt && createJwtVerifier(options.jwt), basic: options.basicAuth };

  async function health(): Promise<{ ok: boolean; body: HealthReport }> {
    const entries = await Promise.all(
      [...backends.values()].map(async (b) => [b.name, await checkBackend(b)] as const),
    );
    const database = await options.sql`SELECT 1`.then(
      () => "SERVING",
      () => "UNREACHABLE",
    );
    const services = Object.fromEntries(entries);
    const supervised = options.processes?.();
    const ok =
      database === "SERVING" &&
      entries.every(([, s]) => s === "SERVING") &&
      (supervised ?? []).every((p) => p.state === "running");
    const processes = supervised && Object.fromEntries(supervised.map(({ name, ...rest }) => [name, rest]));
    return {
      ok,
      body: { status: ok ? "SERVING" : "NOT_SERVING", services, database, ...(processes ? { processes } : {}) },
    };
  }

  const healthService: Partial<ServiceImpl<typeof Health>> = {
    async check(req) {
      if (req.service === "")
        return {
          status: (await health()).ok
            ? HealthCheckResponse_ServingStatus.SERVING
            : HealthCheckResponse_ServingStatus.NOT_SERVING,
        };
      const backend = [...backends.values()].find((b) =>
        catalog[b.name].services.some((s) => s.typeName === req.service),
      );
      if (!backend) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
      const status = await checkBackend(backend);
      return {
        status:
          status === "SERVING"
            ? HealthCheckResponse_ServingStatus.SERVING
            : HealthCheckResponse_ServingStatus.NOT_SERVING,
      };
    },
  };

  // Every service of every routed capability, each forwarded to its capability's backend.
  const routes = [...backends.values()].flatMap((backend) =>
    catalog[backend.name].services.map((service) => ({ service, backend })),
  );
  const forwarded: ServiceRegistration[] = routes.map(({ service, backend }) => ({
    service,
    impl: createForwardingService(service, backend, { defaultTimeoutMs: options.defaultTimeoutMs }),
  }));
  const meter = createMeter({ sql: options.sql, logger: options.logger, flushMs: options.usageFlushMs });
  const tierLimits = options.tierLimits ?? defaultTierLimits;
  const tokenUsage: TokenUsageReader = (filter) => queryTokenUsage(options.sql, filter);
  const local = [
    register(AdminService, createAdminService(keys, meter, tokenUsage)),
    register(AccountService, createAccountService(meter, tierLimits, tokenUsage)),
    ...(options.blobs ? [register(BlobService, createBlobService(options.blobs))] : []),
    register(Health, healthService),
  ];
  const services = [...forwarded, ...local];

  const limiter = options.limiter ?? createMemoryLimiter();
  /** Health probes of the backends `which` selects. */
  const backendProbes = (which: (b: Backend) => boolean) =>
    Object.fromEntries(
      [...backends.values()].filter(which).map((b) => [
        b.name,
        async () => {
          if ((await checkBackend(b)) !== "SERVING") throw new Error("not serving");
        },
      ]),
    );
  const version = options.version ?? "dev";
  const database = () => options.sql`SELECT 1`;
  const statusReport = createStatusReport(version, () => ({
    database,
    redis: limiter.store === "redis" ? () => limiter.ping() : { mode: "in-memory" },
    nats: options.natsUrl ? () => pingNats(options.natsUrl!) : { mode: "embedded" },
    ...backendProbes(() => true),
  }));

  const metrics = createGatewayMetrics();
  // The one chain every call passes, on every path and protocol, in this order.
  const policies = chainPolicies([
    requestIdPolicy(options.logger),
    // Only when traces are exported: otherwise the chain does not pay for it.
    ...(tracing() ? [tracingPolicy()] : []),
    metrics.policy,
    accessLogPolicy(options.logger),
    authPolicy(authenticators),
    usagePolicy(meter),
    rateLimitPolicy({ limiter, limits: tierLimits, logger: options.logger }),
  ]);
  const rest = createRest({
    services,
    policies,
    maxRequestBytes: options.maxRequestBytes,
    defaultTimeoutMs: options.defaultTimeoutMs,
    batchable: runsAsJobs,
    logger: options.logger,
    store: options.blobs,
  });
  // Per REST prefix (`/api/v1/<capability>/`): its services' health and metrics.
  const servicesByPrefix = new Map<string, Set<string>>();
  for (const route of rest.router.routes) {
    const prefix = prefixOf(route.template);
    servicesByPrefix.set(prefix, (servicesByPrefix.get(prefix) ?? new Set()).add(route.service.typeName));
  }
  const prefixes = new Map<string, CapabilityInfo>();
  for (const [prefix, names] of servicesByPrefix) {
    const served = (b: Backend) => catalog[b.name].services.some((s) => names.has(s.typeName));
    prefixes.set(prefix, {
      services: [...names],
      health: createStatusReport(version, () => ({ database, ...backendProbes(served) })),
    });
  }
  const docs = createDocs({ publicUrl: options.publicUrl });
  const webConsole = createConsole();
  const capabilityInfo = createCapabilityInfo(prefixes, () => metrics.registry.metrics());
  const handler = createGatewayHandler({
    docs: (req, res, path) => docs(req, res, path) || capabilityInfo(req, res, path) || webConsole(req, res, path),
    rest: rest.handle,
    openai: createOpenAiFront({
      services,
      policies,
      maxRequestBytes: options.maxRequestBytes,
      defaultTimeoutMs: options.defaultTimeoutMs,
      logger: options.logger,
    }).handle,
    services: [...services, ...reflectionRegistrations(services.map((s) => s.service).filter((s) => s !== Health))],
    policies,
    unary: createUnaryTransport({
      forwarded: routes,
      local,
      policies,
      maxRequestBytes: options.maxRequestBytes,
      defaultTimeoutMs: options.defaultTimeoutMs,
    }),
    maxRequestBytes: options.maxRequestBytes,
    corsOrigins: options.corsOrigins,
    logger: options.logger,
    admit: (call) => admit(authenticators, call),
    health,
    statusReport,
    metrics: () => metrics.registry.metrics(),
  });
  const server = createDualServer(handler, options.connections);

  return {
    health,
    metrics: () => metrics.registry.metrics(),
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.net.once("error", reject);
        server.net.listen(port, host, () => {
          const address = server.net.address();
          resolve(typeof address === "object" && address ? address.port : port);
        });
      }),
    async close() {
      await server.close();
      await meter.close();
      for (const b of backends.values()) {
        b.client.close();
        b.unary.close();
      }
    },
  };
}
