/**
 * The gateway's front half alone: the same listener, handler and interceptors (request id, API
 * key lookup) as the real gateway, with CryptoService/Hash answered locally instead of
 * forwarded. The difference from the full gateway is the cost of the backend hop.
 */
import { CryptoService } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { createGatewayHandler } from "../../gateway/http.js";
import { createDualServer } from "../../gateway/listener.js";
import { createKeyStore } from "../../gateway/auth/key-store.js";
import { createAuthInterceptor } from "../../gateway/interceptors/auth.js";
import { createRequestIdInterceptor } from "../../gateway/interceptors/request-id.js";
import { startEmbeddedPostgres } from "../../lib/db/pglite-server.js";
import { createSql } from "../../lib/db/sql.js";
import { migrate } from "../../lib/db/migrate.js";
import { createLogger } from "../../lib/runtime/logger.js";
import { register } from "../../lib/runtime/server.js";
import { reportReady } from "../../lib/runtime/lifecycle.js";

const logger = createLogger({ name: "gateway-front", level: "warn" });
const pg = await startEmbeddedPostgres();
const sql = createSql(pg.url);
await migrate(sql);
const keys = createKeyStore({ sql, adminKey: process.env.FLOWFORGE_ADMIN_KEY });
const handler = createGatewayHandler({
  services: [register(CryptoService, { hash: (req) => ({ digest: req.input.case === "text" ? req.input.value : "" }) })],
  interceptors: [createRequestIdInterceptor(logger), createAuthInterceptor({ keys })],
  maxRequestBytes: 32 * 1024 * 1024,
  corsOrigins: ["*"],
  logger,
  health: async () => ({ ok: true, body: {} }),
});
const server = createDualServer(handler);
server.net.listen(0, "127.0.0.1", () => reportReady("gateway-front", (server.net.address() as { port: number }).port));
