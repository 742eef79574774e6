/**
 * Runs in a sandbox thread (lib/runtime/sandbox.ts): one JSONata or JMESPath query, or one JSON
 * Schema validation (ajv); errors come back as text for the caller to name the field.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import jmespath from "jmespath";
import jsonata from "jsonata";
import { markStarted, type SandboxTask } from "#runtime/sandbox-worker.js";

/** A query. */
export interface QueryTask {
  kind: "query";
  language: "jsonata" | "jmespath";
  expression: string;
  data: unknown;
}

/** A validation. */
export interface ValidateTask {
  kind: "validate";
  schema: Record<string, unknown>;
  data: unknown;
}

/** One violation as ajv reports it. */
export interface Violation {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  message: string;
}

/** What comes back. */
export type WorkerResult =
  | { result: unknown }
  | { valid: boolean; violations: Violation[] }
  | { error: string; field: string };

const draft07 = "http://json-schema.org/draft-07/schema";
let validators: { v2020: Ajv2020; v07: Ajv } | undefined;

function ajvFor(schema: Record<string, unknown>) {
  validators ??= {
    v2020: addFormats.default(new Ajv2020({ allErrors: true, strict: false })) as Ajv2020,
    v07: addFormats.default(new Ajv({ allErrors: true, strict: false })) as Ajv,
  };
  return String(schema.$schema ?? "").startsWith(draft07) ? validators.v07 : validators.v2020;
}

async function query(task: QueryTask): Promise<WorkerResult> {
  try {
    if (task.language === "jmespath") return { result: jmespath.search(task.data as never, task.expression) ?? null };
    const result = await jsonata(task.expression).evaluate(task.data);
    // JSONata's sequences are arrays with extra properties: plain JSON out.
    return { result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
  } catch (err) {
    const e = err as { message?: string; position?: number };
    const where = typeof e.position === "number" ? ` (at character ${e.position})` : "";
    return { error: `${e.message ?? String(err)}${where}`, field: "expression" };
  }
}

function validate(task: ValidateTask): WorkerResult {
  let check: ReturnType<Ajv["compile"]>;
  try {
    check = ajvFor(task.schema).compile(task.schema);
  } catch (err) {
    return { error: `not a valid JSON Schema: ${(err as Error).message}`, field: "schema" };
  }
  const valid = check(task.data) as boolean;
  const violations = (check.errors ?? []).map((e) => ({
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    keyword: e.keyword,
    message: e.message ?? e.keyword,
  }));
  return { valid, violations };
}

/** Runs one task. */
export default async function run(task: SandboxTask<QueryTask | ValidateTask>): Promise<WorkerResult> {
  markStarted(task);
  return task.kind === "query" ? query(task) : validate(task);
}
