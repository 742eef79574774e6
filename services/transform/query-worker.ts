/** Runs in a sandbox thread (lib/runtime/sandbox.ts): one JSONata or JMESPath query; errors come back as text. */
import jmespath from "jmespath";
import jsonata from "jsonata";
import { markStarted, type SandboxTask } from "#runtime/sandbox-worker.js";

/** What the main thread sends. */
export interface QueryTask {
  language: "jsonata" | "jmespath";
  expression: string;
  data: unknown;
}

/** The result, or why there is none. */
export type QueryResult = { result: unknown } | { error: string };

/** Runs one query. */
export default async function query(task: SandboxTask<QueryTask>): Promise<QueryResult> {
  markStarted(task);
  try {
    if (task.language === "jmespath") return { result: jmespath.search(task.data as never, task.expression) ?? null };
    const result = await jsonata(task.expression).evaluate(task.data);
    // JSONata's sequences are arrays with extra properties: plain JSON out.
    return { result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
  } catch (err) {
    const e = err as { message?: string; position?: number; code?: string };
    const where = typeof e.position === "number" ? ` (at character ${e.position})` : "";
    return { error: `${e.message ?? String(err)}${where}` };
  }
}
