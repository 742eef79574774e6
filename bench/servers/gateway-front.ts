/**
 * The gateway's front half alone: the same listener, handler and policies (request id, API
 * key lookup) as the real gateway, with CryptoService/Hash answered locally instead of
 * forwarded. The difference from the full gateway is the cost of the backend hop.
 */
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { createGatewayHandler } from "../../gateway/transports/http.js";
import { createDualServer } from "../../gateway/transports/listener.js";
import { createUnaryTransport } from "../../gateway/transports/unary/transport.js";
import { createKeyStore } from "../../gateway/auth/key-store.js";
import { authPolicy } from "../../gateway/policies/auth.js";
import { requestIdPolicy } from "../../gateway/policies/request-id.js";
import { chainPolicies } from "../../gateway/policies/policy.js";
import { startEmbeddedPostgres } from "#db/pglite-server.js";
import { createSql } from "#db/sql.js";
import { migrate } from "#db/migrate.js";
import { createLogger } from "#runtime/logger.js";
import { register } from "#runtime/server.js";
import { reportReady } from "#runtime/lifecycle.js";

const logger = createLogger({ name: "gateway-front", level: "warn" });
const pg = await startEmbeddedPostgres();
const sql = createSql(pg.url);
await migrate(sql);
const keys = createKeyStore({ sql, adminKey: process.env.FLOWFORGE_ADMIN_KEY });
const services = [
  register(CryptoService, { hash: (req) => ({ digest: req.input.case === "text" ? req.input.value : "" }) }),
];
const policies = chainPolicies([requestIdPolicy(logger), authPolicy({ keys })]);
const handler = createGatewayHandler({
  services,
  policies,
  unary: createUnaryTransport({
    forwarded: [],
    local: services,
    policies,
    maxRequestBytes: 32 * 1024 * 1024,
    defaultTimeoutMs: 60_000,
  }),
  maxRequestBytes: 32 * 1024 * 1024,
  corsOrigins: ["*"],
  logger,
  health: async () => ({ ok: true, body: {} }),
});
const server = createDualServer(handler);
server.net.listen(0, "127.0.0.1", () => reportReady("gateway-front", (server.net.address() as { port: number }).port));
