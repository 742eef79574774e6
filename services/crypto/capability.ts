/** The crypto capability: hashing, HMAC, encryption, keys, signatures, JWTs, passwords, randomness. */
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { defineCapability } from "#capability/index.js";
import { register } from "#runtime/server.js";
import { num } from "envalid";

export default defineCapability({
  name: "crypto",
  services: [CryptoService],
  // The bounds of the expensive work (see limits.ts); unset ones are sized from the machine.
  settings: {
    ARGON2_CONCURRENCY: num({ default: undefined, desc: "argon2 hashes at once (default: max(2, CPUs))" }),
    ARGON2_MEMORY_MIB: num({
      default: undefined,
      desc: "memory the argon2 hashes running together may use (default: a quarter of the process's)",
    }),
    KEYGEN_CONCURRENCY: num({ default: undefined, desc: "key pairs generated at once (default: max(2, CPUs))" }),
  },
  async create({ settings }) {
    const { createCryptoService } = await import("./service.js");
    const limits = {
      argon2Concurrency: settings.ARGON2_CONCURRENCY,
      argon2MemoryKib: settings.ARGON2_MEMORY_MIB === undefined ? undefined : settings.ARGON2_MEMORY_MIB * 1024,
      keygenConcurrency: settings.KEYGEN_CONCURRENCY,
    };
    return { services: [register(CryptoService, createCryptoService({ limits }))] };
  },
  deploy: { summary: "CryptoService: stateless, scaled by CPU." },
});
