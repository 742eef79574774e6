/**
 * TransformService: Convert (formats.ts; XLSX in the sandbox), Query, Validate and Render (in the
 * sandbox: untrusted expressions, schemas and templates), Patch, Diff and Merge (patch.ts) and
 * Reshape (reshape.ts).
 */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DataFormat,
  JsonForm,
  QueryLanguage,
  TemplateEngine,
  type TransformService,
} from "#gen/flowforge/transform/v1/transform_pb.js";
import { progressKey } from "#runtime/context.js";
import { check, invalidArgument } from "#runtime/errors.js";
import type { Logger } from "#runtime/logger.js";
import { checkExpression, createSandbox, type SandboxLimits } from "#runtime/sandbox.js";
import { checkDepth, depthOf, maxValueDepth, read, refuseDepth, table, write } from "./formats.js";
import { diff, merge, patch } from "./patch.js";
import { reshape } from "./reshape.js";
import type { QueryTask, TransformTask, WorkerResult } from "./worker.js";
import { moduleUrl } from "#runtime/code.js";

/** Options for createTransformService. */
export interface TransformServiceOptions {
  /** Bounds on the sandbox's threads (queries, validations, templates, workbooks). */
  query?: SandboxLimits;
  /** Where a sandbox thread's failure outside a task is reported. */
  logger?: Logger;
}

const languages: Partial<Record<QueryLanguage, QueryTask["language"]>> = {
  [QueryLanguage.JSONATA]: "jsonata",
  [QueryLanguage.JMESPATH]: "jmespath",
  [QueryLanguage.JSONPATH]: "jsonpath",
};
const engines: Partial<Record<TemplateEngine, "mustache" | "handlebars">> = {
  [TemplateEngine.UNSPECIFIED]: "mustache",
  [TemplateEngine.MUSTACHE]: "mustache",
  [TemplateEngine.HANDLEBARS]: "handlebars",
};
/** Largest workbook read. */
const maxWorkbookBytes = 20 * 1024 * 1024;
/** Longest template. */
const maxTemplateChars = 1_000_000;

/** Creates the TransformService implementation and the thread pool its untrusted work runs on. */
export function createTransformService(options: TransformServiceOptions = {}): {
  impl: ServiceImpl<typeof TransformService>;
  close(): Promise<void>;
} {
  // One pool for every untrusted task; one past its bounds is charged to its expression, schema, template or input.
  const sandbox = createSandbox<TransformTask, WorkerResult>({
    ...options.query,
    filename: moduleUrl("./worker.ts", import.meta.url),
    field: "expression",
    name: "transform",
    logger: options.logger,
  });
  const run = sandbox.answer;

  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const impl: ServiceImpl<typeof TransformService> = {
    async convert(req, ctx) {
      check(req.from !== DataFormat.UNSPECIFIED, "from", "is required");
      check(req.to !== DataFormat.UNSPECIFIED, "to", "is required");
      const form = req.jsonForm;
      check(
        form === JsonForm.UNSPECIFIED || req.to === DataFormat.JSON,
        "json_form",
        `applies only to a JSON target (to is ${DataFormat[req.to]})`,
      );
      const sheet = req.xlsx?.sheet ?? "";
      let data: unknown;
      let depth: number;
      if (req.from === DataFormat.XLSX) {
        check(req.inputData.length > 0, "input_data", "is required: the workbook's bytes");
        check(req.inputData.length <= maxWorkbookBytes, "input_data", `must be at most ${maxWorkbookBytes} bytes`);
        const task = { kind: "xlsxRead" as const, data: req.inputData, sheet, noHeader: req.xlsx?.noHeader ?? false };
        data = (await run(task, ctx, "input_data", "records")).records;
        depth = depthOf(data);
      } else {
        // As a job, reading reports its progress (most of the work); writing is the last step.
        const report = ctx.values.get(progressKey);
        let reported = 0;
        // A text format may come as bytes too (a file part or a body that is the file): UTF-8.
        let text = req.input;
        if (text === "" && req.inputData.length > 0) {
          check(req.inputData.length <= maxWorkbookBytes, "input_data", `must be at most ${maxWorkbookBytes} bytes`);
          try {
            text = utf8.decode(req.inputData);
          } catch (cause) {
            throw invalidArgument("input_data", `is not UTF-8 text, as ${DataFormat[req.from]} must be`, cause);
          }
        }
        ({ data, depth } = await read(text, req.from, req.csv, req.xml, (fraction) => {
          if (fraction - reported < 0.05) return;
          reported = fraction;
          report({ message: "reading", fraction: fraction * 0.9 });
        }));
      }
      if (req.to === DataFormat.XLSX) {
        const task = { kind: "xlsxWrite" as const, table: table(data, req.to), sheet };
        const { workbook } = await run(task, ctx, "input", "workbook");
        return { outputData: workbook };
      }
      const wantsData = req.to === DataFormat.JSON && form !== JsonForm.TEXT;
      if (wantsData)
        refuseDepth(
          depth,
          "input",
          maxValueDepth,
          " to be answered as data (a google.protobuf.Value): ask for json_form JSON_FORM_TEXT",
        );
      return {
        output: form === JsonForm.DATA ? "" : write(data, req.to, req.csv, req.xml, req.pretty),
        data: wantsData ? fromJson(ValueSchema, data as JsonValue) : undefined,
      };
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
      const outcome = await run(
        { kind: "query", language, expression: req.expression, data },
        ctx,
        "expression",
        "result",
      );
      checkDepth(outcome.result, "expression", maxValueDepth, " in its result (a google.protobuf.Value)");
      return { result: fromJson(ValueSchema, outcome.result as JsonValue), paths: outcome.paths ?? [] };
    },

    patch,
    diff,
    merge,
    reshape,

    async render(req, ctx) {
      const engine = engines[req.engine];
      if (!engine) throw invalidArgument("engine", `unknown engine ${req.engine}`);
      check(req.template.length <= maxTemplateChars, "template", `must be at most ${maxTemplateChars} characters`);
      const data = req.data ? toJson(ValueSchema, req.data) : null;
      const task = {
        kind: "render" as const,
        engine,
        template: req.template,
        data,
        partials: req.partials,
        noEscape: req.noEscape,
      };
      return { output: (await run(task, ctx, "template", "output")).output };
    },

    async validate(req, ctx) {
      check(req.schema !== undefined, "schema", "is required");
      const data = req.data ? toJson(ValueSchema, req.data) : null;
      const task = { kind: "validate" as const, schema: req.schema as Record<string, unknown>, data };
      return run(task, ctx, "schema", "valid");
    },
  };
  return { impl, close: () => sandbox.close() };
}
