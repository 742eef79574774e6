/**
 * Runs in a sandbox thread (see sandboxed.ts): one mathjs expression (the functions mathjs's
 * security guidance says to disable made unreachable, compiled expressions cached per number
 * mode), a symbolic task, a linear system or polynomial, a matrix operation or factorization, or a
 * statistic. It returns a refusal's message and field instead of throwing, so the caller can name
 * the field; anything it cannot bound itself (time, memory) the thread pool bounds from outside.
 */
import { ConnectError } from "@connectrpc/connect";
import { markStarted, type Refused, type SandboxTask } from "#runtime/sandbox-worker.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { describe } from "./describe.js";
import { correlate, regress } from "./relations.js";
import { tTest } from "./ttest.js";
import { all, create, type EvalFunction, type MathJsInstance, type MathNode } from "mathjs";
import {
  computeMatrix,
  decompose,
  type DecomposeTask,
  type MatrixTask,
  polynomialRoots,
  Refusal,
  solveLinearSystem,
} from "./linear-algebra.js";

/** What the main thread sends. */
export interface EvaluateTask {
  expression: string;
  variables: Record<string, unknown>;
  mode: "number" | "BigNumber" | "Fraction";
  precision: number;
}

/** A symbolic task: simplify an expression, or differentiate it by a variable. */
export interface SymbolicTask {
  kind: "simplify" | "derivative";
  expression: string;
  variable?: string;
}

/** Linear equations as text, to solve. */
export interface EquationsTask {
  kind: "equations";
  equations: string[];
}

/** A polynomial, to find its roots. */
export interface RootsTask {
  kind: "roots";
  coefficients: number[];
}

/** The statistics, each a function of its request. */
const statistics = { describe, correlate, regress, tTest };

/** A statistic over a sample, which may hold millions of values. */
export type StatisticTask = {
  [K in keyof typeof statistics]: { kind: "statistic"; name: K; request: Parameters<(typeof statistics)[K]>[0] };
}[keyof typeof statistics];

/** Every task the math sandbox runs. */
export type MathTask =
  | EvaluateTask
  | SymbolicTask
  | EquationsTask
  | RootsTask
  | MatrixTask
  | DecomposeTask
  | StatisticTask;

/** What comes back: the result, or why there is none (and the field at fault, when not the default). */
export type EvaluateResult =
  | { value: unknown; text: string; type: string }
  | { expression: string; tex: string }
  | { solution: Record<string, number> }
  | { roots: { re: number; im: number }[] }
  | { computed: ReturnType<typeof computeMatrix> }
  | { factors: ReturnType<typeof decompose> }
  | { statistic: ReturnType<(typeof statistics)[keyof typeof statistics]> }
  | Refused;

const disabled = (name: string) => () => {
  throw new Error(`function ${name} is not available in expressions`);
};

interface Engine {
  math: MathJsInstance;
  compile: (expression: string) => EvalFunction;
  parse: MathJsInstance["parse"];
  simplify: MathJsInstance["simplify"];
  derivative: MathJsInstance["derivative"];
  cache: Map<string, EvalFunction>;
}

const engines = new Map<string, Engine>();
const maxCached = 1000;

function engine(mode: EvaluateTask["mode"]): Engine {
  let e = engines.get(mode);
  if (e) return e;
  const math = create(all, { number: mode, precision: 64 });
  const { compile, parse, simplify, derivative } = math;
  // mathjs's security guidance: nothing in an expression may define, parse or import code.
  const names = [
    "import",
    "createUnit",
    "evaluate",
    "parse",
    "simplify",
    "derivative",
    "compile",
    "parser",
    "resolve",
    "reviver",
    "replacer",
  ];
  math.import(Object.fromEntries(names.map((n) => [n, disabled(n)])), { override: true });
  e = { math, compile, parse, simplify, derivative, cache: new Map() };
  engines.set(mode, e);
  return e;
}

// Every engine built as the thread starts (~150 ms each, ~10 MB for the three): a task's time limit
// measures its own work, not the first call on a fresh thread (one replacing a thread that ran out
// of memory, say) building mathjs.
for (const mode of ["number", "BigNumber", "Fraction"] as const) engine(mode);

function compiled(e: Engine, expression: string): EvalFunction {
  let fn = e.cache.get(expression);
  if (fn) return fn;
  fn = e.compile(expression);
  if (e.cache.size >= maxCached) e.cache.delete(e.cache.keys().next().value!);
  e.cache.set(expression, fn);
  return fn;
}

/** A result as JSON: numbers stay numbers when JSON can hold them; big numbers, fractions and units become text. */
function toJson(math: MathJsInstance, x: unknown): unknown {
  if (typeof x === "number") return Number.isFinite(x) ? x : String(x);
  if (typeof x === "boolean" || typeof x === "string" || x === null) return x;
  if (math.isMatrix(x)) return toJson(math, (x as { toArray(): unknown[] }).toArray());
  if (Array.isArray(x)) return x.map((v) => toJson(math, v));
  return math.format(x as never, { precision: 64 });
}

function symbolic(task: SymbolicTask): EvaluateResult {
  const e = engine("number");
  const node =
    task.kind === "simplify" ? e.simplify(task.expression) : e.derivative(task.expression, task.variable ?? "x");
  return { expression: node.toString(), tex: node.toTex() };
}

/** Runs one task; whatever it throws comes back as a refusal. */
export default function run(task: SandboxTask<MathTask>): EvaluateResult {
  markStarted(task);
  try {
    if (!("kind" in task)) return evaluate(task);
    switch (task.kind) {
      case "simplify":
      case "derivative":
        return symbolic(task);
      case "equations":
        return { solution: equations(task) };
      case "roots":
        return { roots: polynomialRoots(task.coefficients) };
      case "matrix":
        return { computed: computeMatrix(task) };
      case "decompose":
        return { factors: decompose(task) };
      case "statistic":
        return { statistic: (statistics[task.name] as (r: StatisticTask["request"]) => never)(task.request) };
    }
  } catch (err) {
    if (err instanceof Refusal) return { error: err.message, field: err.field };
    // The statistics check their input as the handlers do, with invalidArgument.
    const violation =
      err instanceof ConnectError ? err.findDetails(BadRequestSchema)[0]?.fieldViolations[0] : undefined;
    if (violation) return { error: violation.description, field: violation.field };
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** One `=` in an equation (not part of `==`, `<=`, `>=`, `!=`). */
const equals = /(?<![=<>!])=(?!=)/;

/**
 * Solves linear equations: each becomes f = lhs - rhs; an unknown's coefficient is ∂f/∂unknown,
 * which must hold no unknown (else the equation is not linear), and the constant is f at 0.
 */
function equations(task: EquationsTask): Record<string, number> {
  const { math, parse, derivative } = engine("number");
  const fs = task.equations.map((text, i) => {
    const sides = text.split(equals);
    if (sides.length !== 2) throw new Refusal(`equations.equations[${i}]`, "must hold exactly one =");
    try {
      return new math.OperatorNode("-", "subtract", [parse(sides[0]), parse(sides[1])]) as MathNode;
    } catch (err) {
      throw new Refusal(`equations.equations[${i}]`, err instanceof Error ? err.message : String(err));
    }
  });
  const unknowns = new Set<string>();
  for (const f of fs) {
    f.traverse((node, path) => {
      if (math.isSymbolNode(node) && path !== "fn" && !(node.name in math)) unknowns.add(node.name);
    });
  }
  if (unknowns.size === 0) throw new Refusal("equations.equations", "hold no unknowns");
  const names = [...unknowns].sort();
  const zero = new Map(names.map((n) => [n, 0]));
  const number = (node: MathNode, scope: Map<string, number>, i: number): number => {
    const v = node.evaluate(scope);
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Refusal(`equations.equations[${i}]`, "must have finite real coefficients");
    }
    return v;
  };
  const a = fs.map((f, i) =>
    names.map((name) => {
      const d = derivative(f, name);
      const nonlinear = d.filter((n) => math.isSymbolNode(n) && unknowns.has(n.name)).length > 0;
      if (nonlinear) throw new Refusal(`equations.equations[${i}]`, `is not linear in ${name}`);
      return number(d, new Map(), i);
    }),
  );
  const b = fs.map((f, i) => -number(f, zero, i));
  return solveLinearSystem(names, a, b);
}

/** Evaluates one expression. */
function evaluate(task: EvaluateTask): EvaluateResult {
  const e = engine(task.mode);
  const { math } = e;
  const scope = new Map<string, unknown>();
  for (const [name, value] of Object.entries(task.variables)) {
    scope.set(
      name,
      typeof value === "number" && task.mode !== "number"
        ? task.mode === "BigNumber"
          ? math.bignumber(value)
          : math.fraction(value)
        : value,
    );
  }
  let result = compiled(e, task.expression).evaluate(scope);
  // Several statements (`a = 2; a * 3`) answer with the last one's value.
  if (result && typeof result === "object" && "entries" in result && math.typeOf(result) === "ResultSet") {
    const entries = (result as { entries: unknown[] }).entries;
    result = entries[entries.length - 1];
  }
  if (typeof result === "function") return { error: "the expression defines a function but does not call it" };
  const text = task.precision > 0 ? math.format(result, { precision: task.precision }) : math.format(result);
  return { value: toJson(math, result), text, type: math.typeOf(result) };
}
