/**
 * The crypto service's expensive work, bounded: argon2 (HashPassword, VerifyPassword, passphrase
 * Encrypt/Decrypt) by slots and by the memory its running hashes may take together, and key pair
 * generation by slots. Both run on libuv's thread pool, so bounding them also keeps threads free
 * for everything else there (DNS lookups, file reads). Job items never take the last slots, and
 * tenants' items take turns (see lib/runtime/bulkhead.ts).
 */
import type { HandlerContext } from "@connectrpc/connect";
import { createBulkhead, type Bulkhead } from "#runtime/bulkhead.js";
import { check } from "#runtime/errors.js";
import { heavySlots, machine } from "#runtime/machine.js";

/** argon2id limits for KDFs and password hashes: hostile parameters are refused, not run. */
export const kdfLimits = {
  memoryKib: { min: 8192, max: 262_144, default: 65_536 },
  iterations: { min: 1, max: 10, default: 3 },
  parallelism: { min: 1, max: 4, default: 1 },
};

/** Options for createCryptoLimits; every default is sized from the machine. */
export interface CryptoLimitOptions {
  /** argon2 hashes running at once. @default heavySlots(CPUs): max(2, CPUs) */
  argon2Concurrency?: number;
  /** Memory (KiB) the argon2 hashes running at once may use together. @default a quarter of the process's memory */
  argon2MemoryKib?: number;
  /** Key pairs generated at once. @default heavySlots(CPUs): max(2, CPUs) */
  keygenConcurrency?: number;
}

/** The bounded runners. */
export interface CryptoLimits {
  /** Runs an argon2 hash of `memoryKib`; refuses (naming `field`) one larger than the service can afford. */
  argon2<T>(ctx: HandlerContext, field: string, memoryKib: number, work: () => Promise<T>): Promise<T>;
  /** Runs a key pair generation. */
  keygen<T>(ctx: HandlerContext, work: () => Promise<T>): Promise<T>;
  /** The largest argon2 memory cost one call may ask for, in KiB. */
  maxArgon2MemoryKib: number;
}

/** Limits resolved from options and the machine. */
export function resolveCryptoLimits(options: CryptoLimitOptions = {}): Required<CryptoLimitOptions> {
  const { cpus, memoryBytes } = machine();
  return {
    argon2Concurrency: options.argon2Concurrency ?? heavySlots(cpus),
    argon2MemoryKib: options.argon2MemoryKib ?? Math.floor(memoryBytes / 4 / 1024),
    keygenConcurrency: options.keygenConcurrency ?? heavySlots(cpus),
  };
}

/** Creates the runners. */
export function createCryptoLimits(options: CryptoLimitOptions = {}): CryptoLimits {
  const limits = resolveCryptoLimits(options);
  const argon2: Bulkhead = createBulkhead({
    name: "argon2",
    concurrency: limits.argon2Concurrency,
    capacity: limits.argon2MemoryKib,
  });
  const keygen: Bulkhead = createBulkhead({ name: "key generation", concurrency: limits.keygenConcurrency });
  // Half the budget per call, so a unary call fits beside a job item at the largest cost.
  const maxArgon2MemoryKib = Math.min(kdfLimits.memoryKib.max, Math.floor(limits.argon2MemoryKib / 2));
  return {
    maxArgon2MemoryKib,
    argon2(ctx, field, memoryKib, work) {
      check(
        memoryKib <= maxArgon2MemoryKib,
        field,
        `must be at most ${maxArgon2MemoryKib} KiB on this service (its memory budget for argon2)`,
      );
      return argon2.run(ctx, work, memoryKib);
    },
    keygen: (ctx, work) => keygen.run(ctx, work),
  };
}
