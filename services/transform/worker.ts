/**
 * Runs in a sandbox thread (lib/runtime/sandbox.ts): one JSONata, JMESPath or JSONPath query, one
 * JSON Schema validation (ajv), one template rendering, or one XLSX read or write; errors come
 * back as text for the caller to name the field.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import jmespath from "jmespath";
import jsonata from "jsonata";
import { paths as jsonPaths, query as jsonPathQuery } from "jsonpath-rfc9535";
import { markStarted, type Refused, type SandboxTask } from "#runtime/sandbox-worker.js";
import { type RenderTask, render } from "./render.js";
import { readXlsx, writeXlsx, type XlsxReadTask, type XlsxWriteTask } from "./xlsx.js";

/** A query. */
export interface QueryTask {
  kind: "query";
  language: "jsonata" | "jmespath" | "jsonpath";
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

/** Every task the transform sandbox runs. */
export type TransformTask = QueryTask | ValidateTask | RenderTask | XlsxReadTask | XlsxWriteTask;

/** What comes back. */
export type WorkerResult =
  | { result: unknown; paths?: string[] }
  | { valid: boolean; violations: Violation[] }
  | { output: string }
  | { records: unknown[] }
  | { workbook: Uint8Array }
  | Refused;

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
    if (task.language === "jsonpath") {
      const data = task.data as Parameters<typeof jsonPathQuery>[0];
      return { result: jsonPathQuery(data, task.expression), paths: jsonPaths(data, task.expression) };
    }
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
  const ajv = ajvFor(task.schema);
  let check: ReturnType<Ajv["compile"]>;
  try {
    check = ajv.compile(task.schema);
  } catch (err) {
    return { error: `not a valid JSON Schema: ${(err as Error).message}`, field: "schema" };
  } finally {
    // ajv keeps every schema it compiles (by object, and by $id): each request's is used once.
    ajv.removeSchema(task.schema);
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

/** Runs a task whose errors all belong to one field. */
async function charged(field: string, work: () => Promise<WorkerResult> | WorkerResult): Promise<WorkerResult> {
  try {
    return await work();
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), field };
  }
}

/** Runs one task. */
export default async function run(task: SandboxTask<TransformTask>): Promise<WorkerResult> {
  markStarted(task);
  switch (task.kind) {
    case "query":
      return query(task);
    case "validate":
      return validate(task);
    case "render":
      return charged("template", () => ({ output: render(task) }));
    case "xlsxRead":
      return charged("input_data", async () => ({ records: await readXlsx(task) }));
    case "xlsxWrite":
      return charged("input", async () => ({ workbook: await writeXlsx(task) }));
  }
}
