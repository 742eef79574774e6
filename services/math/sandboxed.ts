/**
 * MathService's handlers, all on the sandbox's threads (lib/runtime/sandbox.ts), bounded in time
 * and memory from outside: Evaluate, Simplify and Derivative (mathjs, untrusted expressions),
 * Solve, ComputeMatrix and Decompose (ml-matrix, O(n³)), and the statistics (a sort of millions
 * of values); none of it holds the service's event loop.
 */
import { fromJson, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { checkExpression, createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import {
  type ComputeMatrixRequest,
  type ComputeMatrixResponseSchema,
  type DecomposeRequest,
  type DecomposeResponseSchema,
  Decomposition,
  type DerivativeRequest,
  type EvaluateRequest,
  type EvaluateResponseSchema,
  type Matrix,
  MatrixOperation,
  NumberMode,
  type SimplifyRequest,
  type SolveRequest,
  type SolveResponseSchema,
} from "#gen/flowforge/math/v1/math_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { Logger } from "#runtime/logger.js";
import type { EvaluateResult, EvaluateTask, MathTask, StatisticTask } from "./worker.js";
import { type DecompositionName, type MatrixOperationName, maxEntries, type PlainMatrix } from "./linear-algebra.js";
import { moduleUrl } from "#runtime/code.js";

/** What a variable may be called. */
const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const modes: Record<NumberMode, EvaluateTask["mode"] | undefined> = {
  [NumberMode.UNSPECIFIED]: "number",
  [NumberMode.NUMBER]: "number",
  [NumberMode.BIGNUMBER]: "BigNumber",
  [NumberMode.FRACTION]: "Fraction",
};

const operations: Record<MatrixOperation, MatrixOperationName | undefined> = {
  [MatrixOperation.UNSPECIFIED]: undefined,
  [MatrixOperation.MULTIPLY]: "multiply",
  [MatrixOperation.TRANSPOSE]: "transpose",
  [MatrixOperation.INVERSE]: "inverse",
  [MatrixOperation.DETERMINANT]: "determinant",
  [MatrixOperation.RANK]: "rank",
  [MatrixOperation.SOLVE]: "solve",
  [MatrixOperation.LEAST_SQUARES]: "leastSquares",
  [MatrixOperation.PSEUDO_INVERSE]: "pseudoInverse",
};
const decompositions: Record<Decomposition, DecompositionName | undefined> = {
  [Decomposition.UNSPECIFIED]: undefined,
  [Decomposition.LU]: "lu",
  [Decomposition.QR]: "qr",
  [Decomposition.CHOLESKY]: "cholesky",
  [Decomposition.EIGEN]: "eigen",
  [Decomposition.SVD]: "svd",
};
/** Most equations in one Solve. */
const maxEquations = 100;

/** A matrix for the sandbox: its size checked here, before it is copied to a thread. */
function plain(m: Matrix | undefined, field: string): PlainMatrix | undefined {
  if (!m) return undefined;
  check(m.values.length <= maxEntries, `${field}.values`, `must hold at most ${maxEntries} numbers`);
  return { rows: m.rows, columns: m.columns, values: m.values };
}

/** Longest a statistic may run: a sort of millions of values takes far longer than an expression. */
const statisticLimitMs = 20_000;
/** The field a statistic's exceeded bounds are charged to. */
const statisticFields = { describe: "values", correlate: "x", regress: "y", tTest: "x" } as const;

/** Creates the sandboxed handlers and their thread pool. */
export function createSandboxed(limits: SandboxLimits = {}, logger?: Logger) {
  const sandbox = createSandbox<MathTask, EvaluateResult>({
    // A statistic over the largest request (4M values) holds a few copies of it.
    heapMib: 256,
    ...limits,
    filename: moduleUrl("./worker.ts", import.meta.url),
    field: "expression",
    name: "math",
    logger,
  });
  const run = sandbox.answer;

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
    const task = { expression: req.expression, variables, mode, precision: req.precision };
    const result = await run(task, ctx, "expression", "value");
    return { value: fromJson(ValueSchema, result.value as JsonValue), text: result.text, type: result.type };
  }

  /** Simplify or Derivative. */
  async function symbolic(
    task: Extract<MathTask, { kind: "simplify" | "derivative" }>,
    ctx: HandlerContext,
  ): Promise<{ expression: string; tex: string }> {
    checkExpression(task.expression);
    if (task.kind === "derivative")
      check(variableName.test(task.variable ?? ""), "variable", "must be a variable name");
    return run(task, ctx, "expression", "tex");
  }

  async function solve(req: SolveRequest, ctx: HandlerContext): Promise<MessageInitShape<typeof SolveResponseSchema>> {
    const { problem } = req;
    if (problem.case === "polynomial") {
      const { coefficients } = problem.value;
      const { roots } = await run({ kind: "roots", coefficients }, ctx, "polynomial.coefficients", "roots");
      return { roots };
    }
    if (problem.case === "equations") {
      const { equations } = problem.value;
      check(equations.length > 0, "equations.equations", "must hold at least one equation");
      check(equations.length <= maxEquations, "equations.equations", `must hold at most ${maxEquations} equations`);
      for (const [i, text] of equations.entries()) checkExpression(text, `equations.equations[${i}]`);
      const { solution } = await run({ kind: "equations", equations }, ctx, "equations.equations", "solution");
      return { solution };
    }
    throw invalidArgument("problem", "is required: equations or polynomial");
  }

  async function computeMatrix(
    req: ComputeMatrixRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof ComputeMatrixResponseSchema>> {
    const operation = operations[req.operation];
    if (!operation) throw invalidArgument("operation", "is required");
    const task = { kind: "matrix" as const, operation, a: plain(req.a, "a"), b: plain(req.b, "b") };
    return { result: (await run(task, ctx, "a", "computed")).computed };
  }

  async function decompose(
    req: DecomposeRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof DecomposeResponseSchema>> {
    const decomposition = decompositions[req.decomposition];
    if (!decomposition) throw invalidArgument("decomposition", "is required");
    const task = { kind: "decompose" as const, decomposition, matrix: plain(req.matrix, "matrix") };
    return { result: (await run(task, ctx, "matrix", "factors")).factors };
  }

  /**
   * A statistic on the sandbox's threads: a sort of millions of values would otherwise hold the
   * event loop for the whole of it.
   */
  const statistic =
    <N extends keyof typeof statisticFields>(name: N) =>
    async (request: Extract<StatisticTask, { name: N }>["request"], ctx: HandlerContext) => {
      const task = { kind: "statistic", name, request } as StatisticTask;
      const { statistic } = await run(task, ctx, statisticFields[name], "statistic", statisticLimitMs);
      return statistic as never;
    };

  return {
    describe: statistic("describe"),
    correlate: statistic("correlate"),
    regress: statistic("regress"),
    tTest: statistic("tTest"),
    evaluate,
    simplify: (req: SimplifyRequest, ctx: HandlerContext) =>
      symbolic({ kind: "simplify", expression: req.expression }, ctx),
    derivative: (req: DerivativeRequest, ctx: HandlerContext) =>
      symbolic({ kind: "derivative", expression: req.expression, variable: req.variable }, ctx),
    solve,
    computeMatrix,
    decompose,
    close: () => sandbox.close(),
  };
}
