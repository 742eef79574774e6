/**
 * Untrusted work (expressions, queries) on worker threads (piscina), bounded from outside: a task
 * that runs past its time limit has its thread terminated, one that allocates past the thread's
 * heap limit ends with that thread; neither stalls the process's event loop or other callers.
 * The time limit runs from when a thread starts the task (the worker sets a shared flag), not
 * while it waits for a free thread. A thread that fails (out of memory, a crash, terminated at its
 * time limit) fails only the task it ran; the pool starts another in its place. Tasks reach the
 * threads through a bulkhead (bulkhead.ts): unary callers before job items, tenants in turn, and
 * job items never on every thread.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { Piscina } from "piscina";
import { createBulkhead } from "./bulkhead.js";
import { check, invalidArgument } from "./errors.js";
import type { Logger } from "./logger.js";
import { cpuPool } from "./machine.js";
import type { Refused, SandboxTask } from "./sandbox-worker.js";
import { loaderArgs } from "./code.js";

/** Bounds on each task. */
export interface SandboxLimits {
  /** Longest a task may run. @default 1000 */
  timeMs?: number;
  /** Heap of each thread, in MiB. @default 128 */
  heapMib?: number;
  /** Threads, all started with the first task. @default cpuPool(): the CPUs, plus one for unary callers */
  threads?: number;
  /** Threads job items may hold at once; the rest stay for unary callers. @default threads - 1 (at least 1) */
  jobThreads?: number;
}

/** Options for createSandbox. */
export interface SandboxOptions extends SandboxLimits {
  /** The worker module (its default export runs one task). */
  filename: URL;
  /** The request field errors name by default (`expression`). */
  field: string;
  /** Names the pool in errors and logs. @default "sandbox" */
  name?: string;
  /** Where a thread that fails outside a task is reported. */
  logger?: Logger;
}

export { markStarted, type Refused, type SandboxTask } from "./sandbox-worker.js";

/** Longest untrusted expression accepted, in characters. */
export const maxExpressionChars = 10_000;

/** Checks an untrusted expression's text before it goes to a sandbox: required, and bounded. */
export function checkExpression(text: string, field = "expression"): void {
  check(text.trim() !== "", field, "is required");
  check(text.length <= maxExpressionChars, field, `must be at most ${maxExpressionChars} characters`);
}

/** A sandbox's runner. */
export interface Sandbox<T, R> {
  /**
   * Runs a task; bounds exceeded are reported against `field` (default: the sandbox's). `limitMs`
   * replaces the sandbox's time limit for a task known to be bigger (a statistic over millions).
   */
  run(task: T, ctx: HandlerContext, field?: string, limitMs?: number): Promise<R>;
  /**
   * Runs a task and expects an answer holding `key`: a refusal (`{ error, field? }`) becomes
   * invalid_argument naming its field (or `field`, which is also charged for exceeded bounds).
   */
  answer<K extends string>(
    task: T,
    ctx: HandlerContext,
    field: string,
    key: K,
    limitMs?: number,
  ): Promise<Extract<R, Record<K, unknown>>>;
  close(): Promise<void>;
}

/** Creates the thread pool. */
export function createSandbox<T extends object, R>(options: SandboxOptions): Sandbox<T, R> {
  const timeMs = options.timeMs ?? 1000;
  const threads = options.threads ?? cpuPool().threads;
  const jobThreads = options.jobThreads ?? Math.max(1, threads - 1);
  // The threads (and the engines they load) start on the first task, not with the process: an
  // idle service stays small and starts fast.
  let running: Piscina<SandboxTask<T>, R> | undefined;
  const pool = () => (running ??= startPool());
  const startPool = () => {
    const created = new Piscina<SandboxTask<T>, R>({
      filename: options.filename.href,
      // The threads load the code the way the process does.
      execArgv: loaderArgs,
      // Every thread started with the first task: starting one takes longer than most tasks.
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
      // An idle thread keeps its event loop turning (Atomics.waitAsync), so what a task left behind
      // (a timer, a cleanup) runs then, not inside the next task's time.
      atomics: "async",
      resourceLimits: { maxOldGenerationSizeMb: options.heapMib ?? 128, maxYoungGenerationSizeMb: 16 },
    });
    // A thread terminated at its time limit can still run out of memory on its way out; piscina then
    // reports it on the pool, with no task to fail (an unheard 'error' event would end the process).
    // The thread is already replaced; the task it ran was already answered.
    created.on("error", (err: Error) =>
      options.logger?.warn({ err, pool: name }, "a sandbox thread failed outside a task; it was replaced"),
    );
    return created;
  };
  const name = options.name ?? "sandbox";
  // Tasks wait here, not in piscina's queue: the bulkhead decides who goes next.
  const lanes = createBulkhead({ name, concurrency: threads, jobConcurrency: jobThreads });

  const sandbox: Sandbox<T, R> = {
    async answer(task, ctx, field, key, limitMs) {
      const result = await sandbox.run(task, ctx, field, limitMs);
      if (result !== null && typeof result === "object" && "error" in result) {
        const refused = result as Refused;
        throw invalidArgument(refused.field ?? field, refused.error);
      }
      if (result === null || typeof result !== "object" || !(key in result)) {
        throw new Error(`a sandbox task answered without ${key}`);
      }
      return result as Extract<R, Record<typeof key, unknown>>;
    },
    async run(data, ctx, field = options.field, limitMs = timeMs) {
      // One signal for the pool: aborted by the time limit or by the caller going away (a
      // listener, not AbortSignal.any, which costs ~13 µs a call on Node 20).
      const abort = new AbortController();
      let timedOut = false;
      const callerGone = () => abort.abort(ctx.signal.reason);
      if (ctx.signal.aborted) callerGone();
      else ctx.signal.addEventListener("abort", callerGone, { once: true });
      // A shared flag the thread sets when it starts the task (no channel to build per call).
      const started = new Int32Array(new SharedArrayBuffer(4));
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const wait = Atomics.waitAsync(started, 0, 0);
      void Promise.resolve(wait.value).then(() => {
        if (!settled)
          timer = setTimeout(() => {
            timedOut = true;
            abort.abort();
          }, limitMs);
      });
      try {
        return await lanes.run(ctx, () => pool().run({ ...data, started }, { signal: abort.signal }));
      } catch (err) {
        if (timedOut) throw invalidArgument(field, `ran longer than the ${limitMs} ms limit`, err);
        if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason ?? err, Code.Canceled);
        if (err instanceof ConnectError) throw err; // refused by the bulkhead
        if ((err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY") {
          throw invalidArgument(field, "needs more memory than it may use", err);
        }
        // The thread died under the task (a crash in native code, say): this task fails, others go on.
        throw new ConnectError(
          `${name}: the thread running this call failed`,
          Code.Internal,
          undefined,
          undefined,
          err,
        );
      } finally {
        settled = true;
        clearTimeout(timer);
        ctx.signal.removeEventListener("abort", callerGone);
        // Wake the wait if the task never started (cancelled in the queue), so nothing is left pending.
        Atomics.store(started, 0, 2);
        Atomics.notify(started, 0);
      }
    },
    close: async () => {
      await running?.destroy();
    },
  };
  return sandbox;
}
