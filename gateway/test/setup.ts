/**
 * What every gateway test starts from: PGlite for keys and usage, a real gRPC backend serving the
 * test's handlers, and gateways in front of it (one, or replicas sharing a limiter), with a key
 * store to issue keys; `close` stops them all.
 */
import type { CapabilityName } from "../../services/catalog.js";
import { createLogger } from "#runtime/logger.js";
import { createServiceServer, type ServiceRegistration, type ServiceServer } from "#runtime/server.js";
import { pgliteDatabase, type TestDatabase } from "#test/support/databases.js";
import { createKeyStore, type KeyStore } from "../auth/key-store.js";
import { createGateway, type Gateway, type GatewayOptions } from "../gateway.js";

/** A started gateway test bed. */
export interface TestGateways {
  db: TestDatabase;
  backend: ServiceServer;
  /** The backend's address, for gateways a test makes itself. */
  backendAddress: string;
  gateways: Gateway[];
  /** Each gateway's base URL, in order. */
  urls: string[];
  keys: KeyStore;
  /** Starts another gateway in front of the backend (stopped by `close`), answering its base URL. */
  another(options?: Partial<GatewayOptions>): Promise<string>;
  close(): Promise<void>;
}

/** Options for startTestGateways. */
export interface TestGatewayOptions {
  /** The backend's services (the test's handlers). */
  services: ServiceRegistration[];
  /** The capabilities the gateway routes to the backend. @default ["crypto"] */
  capabilities?: CapabilityName[];
  /** Gateway options over the defaults (admin key "operator", 1 MiB bodies, 10 s deadline, any origin). */
  gateway?: Partial<GatewayOptions>;
  /** Gateways started in front of the backend. @default 1 */
  replicas?: number;
}

export const testLogger = createLogger({ name: "test", level: "silent" });

/** Starts the database, the backend and the gateways. */
export async function startTestGateways(o: TestGatewayOptions): Promise<TestGateways> {
  const db = await pgliteDatabase();
  const backend = createServiceServer({ logger: testLogger, services: o.services });
  const backendAddress = `127.0.0.1:${await backend.listen("127.0.0.1:0")}`;
  const addresses = Object.fromEntries((o.capabilities ?? ["crypto"]).map((c) => [c, backendAddress]));
  const gateways: Gateway[] = [];
  const urls: string[] = [];
  const another = async (options: Partial<GatewayOptions> = {}) => {
    const g = createGateway({
      sql: db.sql,
      logger: testLogger,
      addresses,
      adminKey: "operator",
      maxRequestBytes: 1 << 20,
      defaultTimeoutMs: 10_000,
      corsOrigins: ["*"],
      ...o.gateway,
      ...options,
    });
    gateways.push(g);
    return `http://127.0.0.1:${await g.listen(0, "127.0.0.1")}`;
  };
  for (let i = 0; i < (o.replicas ?? 1); i++) urls.push(await another());
  return {
    db,
    backend,
    backendAddress,
    gateways,
    urls,
    keys: createKeyStore({ sql: db.sql }),
    another,
    async close() {
      for (const g of gateways) await g.close();
      await backend.shutdown({ graceMs: 100 });
      await db.close();
    },
  };
}
