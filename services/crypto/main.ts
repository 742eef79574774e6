/** The crypto service process. */
import { CryptoService } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { register } from "../../lib/runtime/server.js";
import { runService } from "../../lib/runtime/run.js";
import { createCryptoService } from "./service.js";
import { cryptoLimitsFromEnv } from "./limits.js";
import { catalog } from "../catalog.js";

await runService({
  name: "crypto",
  defaultPort: catalog.crypto.defaultPort,
  services: [register(CryptoService, createCryptoService({ limits: cryptoLimitsFromEnv() }))],
  jobWorkers: true,
});
