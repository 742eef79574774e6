/**
 * Evaluate: mathjs on worker threads (piscina), so an expression is bounded from outside: a call
 * that runs past its time limit has its thread terminated, one that allocates past the thread's
 * heap limit ends with that thread, and neither stalls the service's event loop or other callers.
 */
import { availableParallelism } from "node:os";
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { MessageChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { type EvaluateRequest, type EvaluateResponseSchema, NumberMode } from "#gen/flowforge/math/v1/math_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { EvaluateResult, EvaluateTask } from "./evaluate-worker.js";

/** Bounds on one evaluation. */
export interface EvaluateLimits {
  /** Longest an expression may run. @default 1000 */
  timeMs?: number;
  /** Heap of each evaluation thread, in MiB. @default 128 */
  heapMib?: number;
  /** Evaluation threads. @default the CPUs, at least 2 */
  threads?: number;
}

const maxExpressionChars = 10_000;
const modes: Record<NumberMode, EvaluateTask["mode"] | undefined> = {
  [NumberMode.UNSPECIFIED]: "number",
  [NumberMode.NUMBER]: "number",
  [NumberMode.BIGNUMBER]: "BigNumber",
  [NumberMode.FRACTION]: "Fraction",
};

/** Creates the Evaluate handler and its thread pool. */
export function createEvaluate(limits: EvaluateLimits = {}) {
  const timeMs = limits.timeMs ?? 1000;
  const threads = limits.threads ?? Math.max(2, availableParallelism());
  const pool = new Piscina<EvaluateTask, EvaluateResult>({
    filename: new URL("./evaluate-worker.ts", import.meta.url).href,
    // The threads load TypeScript the way the process does.
    execArgv: ["--import", "tsx"],
    // Every thread started up front: starting one (TypeScript, mathjs) takes longer than most calls.
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
    resourceLimits: { maxOldGenerationSizeMb: limits.heapMib ?? 128, maxYoungGenerationSizeMb: 16 },
  });

  async function evaluate(
    req: EvaluateRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof EvaluateResponseSchema>> {
    check(req.expression.trim() !== "", "expression", "is required");
    check(
      req.expression.length <= maxExpressionChars,
      "expression",
      `must be at most ${maxExpressionChars} characters`,
    );
    const mode = modes[req.numberMode];
    if (!mode) throw invalidArgument("number_mode", `unknown number mode ${req.numberMode}`);
    check(req.precision <= 64, "precision", "must be at most 64");
    const variables = (req.variables ?? {}) as JsonObject;
    for (const [name, value] of Object.entries(variables)) {
      check(/^[A-Za-z_][A-Za-z0-9_]*$/.test(name), `variables.${name}`, "must be a name of letters, digits and _");
      check(
        (value !== null && typeof value !== "object") || Array.isArray(value),
        `variables.${name}`,
        "must be a number, string, boolean or array",
      );
    }
    // The time limit runs from when a thread starts the evaluation, not while it waits for one.
    const timeout = new AbortController();
    const { port1, port2 } = new MessageChannel();
    let timer: ReturnType<typeof setTimeout> | undefined;
    port1.once("message", () => {
      timer = setTimeout(() => timeout.abort(), timeMs);
      port1.close();
    });
    let result: EvaluateResult;
    try {
      const task = { expression: req.expression, variables, mode, precision: req.precision, started: port2 };
      result = await pool.run(task, {
        signal: AbortSignal.any([ctx.signal, timeout.signal]),
        transferList: [port2] as never,
      });
    } catch (err) {
      if (timeout.signal.aborted) throw invalidArgument("expression", `ran longer than the ${timeMs} ms limit`, err);
      if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason ?? err, Code.Canceled);
      if ((err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY")
        throw invalidArgument("expression", "needs more memory than an evaluation may use", err);
      throw err;
    } finally {
      clearTimeout(timer);
      port1.close();
    }
    if ("error" in result) throw invalidArgument("expression", result.error);
    return { value: fromJson(ValueSchema, result.value as JsonValue), text: result.text, type: result.type };
  }

  return { evaluate, close: () => pool.destroy() };
}
