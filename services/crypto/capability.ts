/** The crypto capability: hashing, HMAC, encryption, keys, signatures, JWTs, passwords, randomness. */
import { CryptoService } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { defineCapability } from "../../lib/capability/index.js";
import { register } from "../../lib/runtime/server.js";

export default defineCapability({
  name: "crypto",
  services: [CryptoService],
  async create({ env }) {
    const { createCryptoService } = await import("./service.js");
    const { cryptoLimitsFromEnv } = await import("./limits.js");
    return { services: [register(CryptoService, createCryptoService({ limits: cryptoLimitsFromEnv(env) }))] };
  },
  deploy: { summary: "CryptoService: stateless, scaled by CPU." },
});
