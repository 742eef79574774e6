/** Evaluate: mathjs in the sandbox (lib/runtime/sandbox.ts), bounded in time and memory from outside. */
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { checkExpression, createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import {
  type DerivativeRequest,
  type EvaluateRequest,
  type SimplifyRequest,
  type EvaluateResponseSchema,
  NumberMode,
} from "#gen/flowforge/math/v1/math_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { EvaluateResult, EvaluateTask, SymbolicTask } from "./evaluate-worker.js";

/** Bounds on one evaluation. */
export type EvaluateLimits = SandboxLimits;

/** What a variable may be called. */
const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const modes: Record<NumberMode, EvaluateTask["mode"] | undefined> = {
  [NumberMode.UNSPECIFIED]: "number",
  [NumberMode.NUMBER]: "number",
  [NumberMode.BIGNUMBER]: "BigNumber",
  [NumberMode.FRACTION]: "Fraction",
};

/** Creates the Evaluate handler and its thread pool. */
export function createEvaluate(limits: SandboxLimits = {}) {
  const sandbox = createSandbox<EvaluateTask | SymbolicTask, EvaluateResult>({
    ...limits,
    filename: new URL("./evaluate-worker.ts", import.meta.url),
    field: "expression",
  });

  async function evaluate(
    req: EvaluateRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof EvaluateResponseSchema>> {
    checkExpression(req.expression);
    const mode = modes[req.numberMode];
    if (!mode) throw invalidArgument("number_mode", `unknown number mode ${req.numberMode}`);
    check(req.precision <= 64, "precision", "must be at most 64");
    const variables = (req.variables ?? {}) as JsonObject;
    for (const [name, value] of Object.entries(variables)) {
      check(variableName.test(name), `variables.${name}`, "must be a name of letters, digits and _");
      check(
        (value !== null && typeof value !== "object") || Array.isArray(value),
        `variables.${name}`,
        "must be a number, string, boolean or array",
      );
    }
    const result = await sandbox.run({ expression: req.expression, variables, mode, precision: req.precision }, ctx);
    if ("error" in result) throw invalidArgument("expression", result.error);
    if (!("value" in result)) throw new Error("an evaluation answered as a symbolic task");
    return { value: fromJson(ValueSchema, result.value as JsonValue), text: result.text, type: result.type };
  }

  /** Simplify or Derivative, in the same sandbox. */
  async function symbolic(task: SymbolicTask, ctx: HandlerContext): Promise<{ expression: string; tex: string }> {
    checkExpression(task.expression);
    if (task.kind === "derivative")
      check(variableName.test(task.variable ?? ""), "variable", "must be a variable name");
    const result = await sandbox.run(task, ctx);
    if ("error" in result) throw invalidArgument("expression", result.error);
    if (!("tex" in result)) throw new Error("a symbolic task answered as an evaluation");
    return result;
  }

  return {
    evaluate,
    simplify: (req: SimplifyRequest, ctx: HandlerContext) =>
      symbolic({ kind: "simplify", expression: req.expression }, ctx),
    derivative: (req: DerivativeRequest, ctx: HandlerContext) =>
      symbolic({ kind: "derivative", expression: req.expression, variable: req.variable }, ctx),
    close: () => sandbox.close(),
  };
}
