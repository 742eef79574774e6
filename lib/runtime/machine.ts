/** What the machine (or the container's cgroup) gives this process: CPUs and memory. */
import { availableParallelism, totalmem } from "node:os";
import { readFileSync } from "node:fs";

/** The memory limit of this process's cgroup (v2, then v1), or undefined when there is none. */
function cgroupMemoryLimit(): number | undefined {
  for (const file of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    try {
      const n = Number(readFileSync(file, "utf8").trim());
      if (Number.isFinite(n) && n > 0 && n < 2 ** 60) return n;
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}

/** CPUs this process may use and the memory it may take (the smaller of RAM and its cgroup limit). */
export function machine(): { cpus: number; memoryBytes: number } {
  const limit = cgroupMemoryLimit();
  return { cpus: availableParallelism(), memoryBytes: Math.min(totalmem(), limit ?? Infinity) };
}

/** Slots a bulkhead of thread-pool work gets by default: one per CPU, at least two (one stays for unary callers). */
export function heavySlots(cpus = availableParallelism()): number {
  return Math.max(2, cpus);
}

/**
 * Threads for a pool of CPU-bound work (sandbox threads, OCR pages): one per CPU that job items may
 * fill, and one more kept for unary callers, so a batch uses every core and a caller never waits
 * for a running item to end.
 */
export function cpuPool(cpus = availableParallelism()): { threads: number; jobThreads: number } {
  const jobThreads = Math.max(1, cpus);
  return { threads: jobThreads + 1, jobThreads };
}

/** libuv thread-pool size for service processes: room for two bulkheads of heavy work plus four threads for the rest. */
export function threadPoolSize(cpus = availableParallelism()): number {
  return 2 * heavySlots(cpus) + 4;
}
