/** The crypto capability: hashing, HMAC, encryption, keys, signatures, JWTs, passwords, randomness. */
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { cryptoConfig } from "#config/index.js";

export default defineCapability({
  name: "crypto",
  services: [CryptoService],
  async create({ env }) {
    const { createCryptoService } = await import("./service.js");
    return { services: [register(CryptoService, createCryptoService({ limits: cryptoConfig(env) }))] };
  },
  deploy: { summary: "CryptoService: stateless, scaled by CPU." },
});
