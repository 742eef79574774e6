/** TransformService: Convert (formats.ts) and Query (JSONata and JMESPath in the sandbox). */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { DataFormat, QueryLanguage, type TransformService } from "#gen/flowforge/transform/v1/transform_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";
import { checkExpression, createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import { read, write } from "./formats.js";
import { diff, patch } from "./patch.js";
import type { QueryTask, ValidateTask, WorkerResult } from "./worker.js";

/** Options for createTransformService. */
export interface TransformServiceOptions {
  /** Bounds on Query. */
  query?: SandboxLimits;
}

const languages: Partial<Record<QueryLanguage, QueryTask["language"]>> = {
  [QueryLanguage.JSONATA]: "jsonata",
  [QueryLanguage.JMESPATH]: "jmespath",
};

/** Creates the TransformService implementation (and the thread pool Query and Validate run on). */
export function createTransformService(options: TransformServiceOptions = {}): {
  impl: ServiceImpl<typeof TransformService>;
  close(): Promise<void>;
} {
  // One pool for queries and validations; a task past its bounds is charged to its expression or schema.
  const sandbox = createSandbox<QueryTask | ValidateTask, WorkerResult>({
    ...options.query,
    filename: new URL("./worker.ts", import.meta.url),
    field: "expression",
  });
  const impl: ServiceImpl<typeof TransformService> = {
    convert(req) {
      check(req.from !== DataFormat.UNSPECIFIED, "from", "is required");
      check(req.to !== DataFormat.UNSPECIFIED, "to", "is required");
      const data = read(req.input, req.from, req.csv, req.xml);
      const output = write(data, req.to, req.csv, req.xml, req.pretty);
      return { output, data: req.to === DataFormat.JSON ? fromJson(ValueSchema, data as JsonValue) : undefined };
    },

    async query(req, ctx) {
      const language = languages[req.language];
      if (!language)
        throw invalidArgument(
          "language",
          req.language === QueryLanguage.UNSPECIFIED ? "is required" : `unknown language ${req.language}`,
        );
      checkExpression(req.expression);
      const data = req.data ? toJson(ValueSchema, req.data) : null;
      const outcome = await sandbox.run({ kind: "query", language, expression: req.expression, data }, ctx);
      if ("error" in outcome) throw invalidArgument(outcome.field, outcome.error);
      if (!("result" in outcome)) throw new Error("a query answered as a validation");
      return { result: fromJson(ValueSchema, outcome.result as JsonValue) };
    },

    patch,
    diff,

    async validate(req, ctx) {
      check(req.schema !== undefined, "schema", "is required");
      const data = req.data ? toJson(ValueSchema, req.data) : null;
      const outcome = await sandbox.run(
        { kind: "validate", schema: req.schema as Record<string, unknown>, data },
        ctx,
        "schema",
      );
      if ("error" in outcome) throw invalidArgument(outcome.field, outcome.error);
      if (!("valid" in outcome)) throw new Error("a validation answered as a query");
      return outcome;
    },
  };
  return { impl, close: () => sandbox.close() };
}
