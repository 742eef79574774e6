/**
 * Configuration from the environment, read once per process into one typed object (envalid),
 * validated at start-up with a message naming every bad variable. Code below a process's entry
 * point takes values, not `process.env`. Every default is written here, once.
 */
import { cleanEnv, host, makeValidator, num, str, type CleanedEnv } from "envalid";
import { defaultMaxMessageBytes } from "#runtime/config.js";
import { join } from "node:path";
import { type Cidr, parseCidrs, type PrivateTargets } from "#jobs/webhook-target.js";
import { defaultBlobLimits } from "#blobs/index.js";

/** The gRPC port every service listens on in containers (compose, Kubernetes); the launcher picks free ones. */
export const servicePort = 50051;

/** A variable that is missing or malformed; the message names each one. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** envalid reports every problem at once; ours throws (a library never exits the process). */
function reporter({ errors }: { errors: Partial<Record<string, Error>> }) {
  const problems = Object.entries(errors).map(([name, err]) => `${name}: ${err?.message || "is required"}`);
  if (problems.length > 0) throw new ConfigError(`bad configuration: ${problems.join("; ")}`);
}

const positive = (description: string, fallback: number) => num({ default: fallback, desc: description });

/** A port to listen on: 0 to 65535, 0 meaning any free one. */
const port = makeValidator<number>((raw) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new Error(`must be a port from 0 to 65535 (0: any free one), got "${raw}"`);
  return n;
});
/** A JSON Web Key Set: `{"keys": [...]}`. */
const jwks = makeValidator<{ keys: Record<string, unknown>[] }>((raw) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('must be a JWKS as JSON: {"keys": [...]}');
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new Error('must be a JWKS with at least one key: {"keys": [...]}');
  return parsed as { keys: Record<string, unknown>[] };
});
/** Comma-separated CIDR blocks (`10.0.0.0/8,fd00::/8`). */
const cidrs = makeValidator<Cidr[]>((raw) => parseCidrs(raw));
const optional = (description: string) => str({ default: undefined, desc: description });

/** An http(s) URL without a trailing slash. */
const publicUrl = makeValidator<string>((text) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`must be an http(s) URL, e.g. https://api.example.com (got "${text}")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`must be an http(s) URL (got "${text}")`);
  return text.replace(/\/+$/, "");
});

/** What every process reads. */
const common = {
  LOG_LEVEL: str({
    choices: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    default: "info",
    desc: "pino level",
  }),
  HOST: host({ default: "127.0.0.1", desc: "bind address (containers set 0.0.0.0)" }),
  METRICS_PORT: port({ default: undefined, desc: "Prometheus /metrics port (0: any free one); unset: none" }),
};

/** PostgreSQL. */
const database = {
  DATABASE_URL: optional("PostgreSQL URL (npm start provides an embedded one)"),
  DATABASE_POOL: positive("PostgreSQL connections per process", 8),
};

/** The job bus and its workers. */
const jobs = {
  NATS_URL: optional("NATS JetStream for job tasks; without it the jobs process holds the bus"),
  NATS_REPLICAS: positive("replicas of the task stream", 1),
  JOB_BUS_ADDR: optional("the jobs process's address, whose in-process bus the workers use without NATS"),
  JOB_CONCURRENCY: positive("items a worker runs at once", 64),
  JOB_MAX_ATTEMPTS: positive("attempts before an item is dead-lettered", 5),
  JOB_ACK_WAIT_MS: positive("redelivery deadline, kept alive while a handler runs", 30_000),
};

/** Graceful stop of a service. */
const shutdown = {
  SHUTDOWN_DRAIN_MS: num({ default: 0, desc: "NOT_SERVING this long before refusing new calls" }),
  SHUTDOWN_GRACE_MS: positive("in-flight calls get this long to finish", 10_000),
};

/** Reads and validates `specs` from `env`: a capability's own settings use it too, with the same messages. */
export function clean<S extends Record<string, unknown>>(env: NodeJS.ProcessEnv, specs: S): CleanedEnv<S> {
  return cleanEnv(env, specs as never, { reporter }) as CleanedEnv<S>;
}

/** A capability service process (lib/runtime/run.ts). */
export function serviceConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = clean(env, {
    ...common,
    ...database,
    ...jobs,
    ...shutdown,
    PORT: port({ default: servicePort, desc: "gRPC port" }),
    MAX_MESSAGE_BYTES: positive("largest message accepted or sent", defaultMaxMessageBytes),
  });
  return {
    host: e.HOST,
    port: e.PORT,
    metricsPort: e.METRICS_PORT,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    shutdown: { drainMs: e.SHUTDOWN_DRAIN_MS, graceMs: e.SHUTDOWN_GRACE_MS },
    database: e.DATABASE_URL ? { url: e.DATABASE_URL, pool: e.DATABASE_POOL } : undefined,
    bus: { natsUrl: e.NATS_URL, natsReplicas: e.NATS_REPLICAS, jobBusAddress: e.JOB_BUS_ADDR },
    workers: { concurrency: e.JOB_CONCURRENCY, maxAttempts: e.JOB_MAX_ATTEMPTS, ackWaitMs: e.JOB_ACK_WAIT_MS },
  };
}

/** A service process's configuration. */
export type ServiceConfig = ReturnType<typeof serviceConfig>;

/** The jobs process, on top of a service's. */
export function jobsConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = clean(env, {
    MAX_BATCH_ITEMS: positive("largest batch accepted", 100_000),
    FLOWFORGE_WEBHOOK_ALLOW_PRIVATE: str({
      choices: ["", "0", "1"],
      default: "",
      desc: "1 allows webhooks to every private address",
    }),
    FLOWFORGE_WEBHOOK_ALLOWED_CIDRS: cidrs({ default: [], desc: "private CIDR blocks webhooks may reach" }),
  });
  const blocks = e.FLOWFORGE_WEBHOOK_ALLOWED_CIDRS;
  const allowPrivateWebhooks: PrivateTargets =
    e.FLOWFORGE_WEBHOOK_ALLOW_PRIVATE === "1" || (blocks.length > 0 ? blocks : false);
  return { maxBatchItems: e.MAX_BATCH_ITEMS, allowPrivateWebhooks };
}

/** The gateway process. */
export function gatewayConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = clean(env, {
    ...common,
    ...database,
    PORT: port({ default: 8080, desc: "HTTP/1.1 and h2c port" }),
    FLOWFORGE_ADMIN_KEY: optional("operator key, accepted with every scope"),
    FLOWFORGE_CAPABILITIES: optional("the capabilities served, comma-separated (default: every one)"),
    MAX_REQUEST_BYTES: positive("largest request body", defaultMaxMessageBytes),
    DEFAULT_TIMEOUT_MS: positive("deadline for calls that bring none", 60_000),
    CORS_ORIGINS: str({ default: "*", desc: "comma-separated browser origins" }),
    PUBLIC_URL: publicUrl({
      default: undefined,
      desc: "the gateway's URL as callers reach it (https://api.example.com), the OpenAPI document's server; default: the request's own host",
    }),
    TIER_LIMITS: optional("requests per minute and per day per tier, e.g. free=100:1000,enterprise=20000:0"),
    REDIS_URL: optional("Redis for quota counters shared by every replica"),
    NATS_URL: optional("NATS of the job bus, checked by /health"),
    JWT_JWKS_URL: optional("JWKS URL whose keys verify JWT bearer tokens"),
    JWT_KEYS: jwks({ default: undefined, desc: "static JWKS (JSON) verifying JWT bearer tokens" }),
    JWT_ISSUER: optional("required iss of JWTs"),
    JWT_AUDIENCE: optional("required aud of JWTs"),
    JWT_TENANT_CLAIM: str({ default: "tenant", desc: "JWT claim naming the tenant" }),
    JWT_TIER_CLAIM: str({ default: "tier", desc: "JWT claim naming the tier" }),
    JWT_SCOPES_CLAIM: str({ default: "scope", desc: "JWT claim with the scopes (space-separated or a list)" }),
    JWT_USER_CLAIM: str({ default: "sub", desc: "JWT claim naming the user" }),
    BASIC_AUTH: str({
      choices: ["", "0", "1"],
      default: "",
      desc: "1 accepts HTTP Basic with the API key as password",
    }),
    FIRST_REQUEST_TIMEOUT_MS: positive("a connection without a first request is closed after this", 5000),
    MAX_IDLE_CONNECTIONS: num({
      default: undefined,
      desc: "idle connections kept (default: from the open-file limit)",
    }),
    MAX_CONNECTIONS: num({ default: undefined, desc: "connections at once (default: from the open-file limit)" }),
  });
  return {
    host: e.HOST,
    port: e.PORT,
    metricsPort: e.METRICS_PORT,
    database: e.DATABASE_URL ? { url: e.DATABASE_URL, pool: e.DATABASE_POOL } : undefined,
    adminKey: e.FLOWFORGE_ADMIN_KEY || undefined,
    capabilities: e.FLOWFORGE_CAPABILITIES,
    maxRequestBytes: e.MAX_REQUEST_BYTES,
    defaultTimeoutMs: e.DEFAULT_TIMEOUT_MS,
    corsOrigins: e.CORS_ORIGINS.split(",").map((s) => s.trim()),
    publicUrl: e.PUBLIC_URL,
    tierLimits: e.TIER_LIMITS,
    redisUrl: e.REDIS_URL,
    natsUrl: e.NATS_URL,
    jwt:
      e.JWT_JWKS_URL || e.JWT_KEYS
        ? {
            jwksUrl: e.JWT_JWKS_URL,
            keys: e.JWT_KEYS,
            issuer: e.JWT_ISSUER,
            audience: e.JWT_AUDIENCE,
            claims: {
              tenant: e.JWT_TENANT_CLAIM,
              tier: e.JWT_TIER_CLAIM,
              scopes: e.JWT_SCOPES_CLAIM,
              user: e.JWT_USER_CLAIM,
            },
          }
        : undefined,
    basicAuth: e.BASIC_AUTH === "1",
    connections: {
      firstRequestTimeoutMs: e.FIRST_REQUEST_TIMEOUT_MS,
      maxIdleConnections: e.MAX_IDLE_CONNECTIONS,
      maxConnections: e.MAX_CONNECTIONS,
    },
  };
}

/** The launcher (`npm start`). */
export function launcherConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = clean(env, {
    FLOWFORGE_DATA_DIR: str({ default: ".flowforge", desc: "embedded state" }),
    PORT: port({ default: 8080, desc: "the gateway's port" }),
    EMBEDDED_PG_PORT: num({ default: 0, desc: "the embedded PostgreSQL's port (0: any free one)" }),
    DATABASE_URL: optional("PostgreSQL instead of the embedded one"),
    NATS_URL: optional("NATS JetStream instead of the jobs process's bus"),
    FLOWFORGE_ADMIN_KEY: optional("operator key (else the one kept in the data directory, else a new one)"),
    FLOWFORGE_CAPABILITIES: optional("the capabilities to run, comma-separated (default: every one)"),
    LAUNCHER_BACKOFF_MS: positive("first restart delay", 500),
    LAUNCHER_BACKOFF_MAX_MS: positive("longest restart delay", 30_000),
    LAUNCHER_HEALTHY_MS: positive("up this long resets the crash count", 60_000),
    LAUNCHER_GRACE_MS: positive("stop grace before SIGKILL", 15_000),
  });
  return {
    dataDir: e.FLOWFORGE_DATA_DIR,
    capabilities: e.FLOWFORGE_CAPABILITIES,
    gatewayPort: e.PORT,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    databaseUrl: e.DATABASE_URL,
    natsUrl: e.NATS_URL,
    adminKey: e.FLOWFORGE_ADMIN_KEY,
    backoffMs: e.LAUNCHER_BACKOFF_MS,
    maxBackoffMs: e.LAUNCHER_BACKOFF_MAX_MS,
    healthyAfterMs: e.LAUNCHER_HEALTHY_MS,
    graceMs: e.LAUNCHER_GRACE_MS,
  };
}

/** The blob store (lib/blobs), read by every process that reads or writes files. */
export function blobConfig(env: NodeJS.ProcessEnv = process.env) {
  const e = clean(env, {
    FLOWFORGE_DATA_DIR: str({ default: ".flowforge", desc: "embedded state; blobs under blobs/" }),
    NATS_URL: optional("NATS JetStream, whose Object Store holds blobs when BLOB_STORE is nats"),
    BLOB_STORE: str({
      choices: ["", "file", "nats"],
      default: "",
      desc: "where blobs are kept: file (under FLOWFORGE_DATA_DIR) or nats (default: nats when NATS_URL is set)",
    }),
    BLOB_MAX_BYTES: positive("largest file stored", defaultBlobLimits.maxBytes),
    BLOB_TTL_SECONDS: positive("how long a blob is kept unless the upload says", defaultBlobLimits.defaultTtlSeconds),
    BLOB_MAX_TTL_SECONDS: positive("longest a blob may be kept", defaultBlobLimits.maxTtlSeconds),
    BLOB_INLINE_MAX_BYTES: positive(
      "results larger than this are answered as a blob",
      defaultBlobLimits.inlineMaxBytes,
    ),
  });
  const kind = e.BLOB_STORE || (e.NATS_URL ? "nats" : "file");
  return {
    kind: kind as "file" | "nats",
    dir: join(e.FLOWFORGE_DATA_DIR, "blobs"),
    natsUrl: e.NATS_URL,
    limits: {
      maxBytes: e.BLOB_MAX_BYTES,
      defaultTtlSeconds: e.BLOB_TTL_SECONDS,
      maxTtlSeconds: e.BLOB_MAX_TTL_SECONDS,
      inlineMaxBytes: e.BLOB_INLINE_MAX_BYTES,
    },
  };
}

/** The blob store's configuration. */
export type BlobConfig = ReturnType<typeof blobConfig>;
