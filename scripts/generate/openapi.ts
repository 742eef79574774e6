/**
 * The REST projection of the contracts as one OpenAPI 3.1 document (`gen/openapi/openapi.json`),
 * written by `npm run generate` from the protos as `buf build` reads them (comments included):
 * every `google.api.http` route and, for the services whose capability runs jobs, its `:batch`
 * twin, request and response schemas from the messages (comments as descriptions, enums,
 * formats, required fields), the REST error envelope, the security schemes, a tag per capability
 * and an example per method (an `Example:` line of the rpc's comment, else one built from the
 * input's required fields).
 */
import { readFileSync } from "node:fs";
import {
  createFileRegistry,
  fromBinary,
  type DescEnum,
  type DescExtension,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  getExtension,
  hasExtension,
  type Registry,
  ScalarType,
} from "@bufbuild/protobuf";
import { execFileSync } from "node:child_process";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { getComments } from "@bufbuild/protoplugin";
import {
  answerMediaTypes,
  batchable,
  bodyFileField,
  fileFields,
  fileMediaType,
  isFileStream,
  isScalarJson,
  parseTemplate,
  prefixOf,
  waitableMethod,
} from "../../gateway/transports/rest/templates.js";

type Json = Record<string, unknown>;

/** A file's bytes, in a body or a form part. */
const binary = { type: "string", format: "binary" };

/**
 * An `Example:` line stands for a small real file with `sample:<file>` (`sample:document.pdf`, kept in
 * scripts/generate/samples/), so every documented example runs; the document carries its base64.
 */
function sampleFile(value: unknown): unknown {
  const m = typeof value === "string" ? /^sample:([\w-]+\.(?:png|pdf))$/.exec(value) : null;
  if (!m) return value;
  return readFileSync(new URL(`./samples/${m[1]}`, import.meta.url)).toString("base64");
}

/** The lines of a declaration's comment (one leading space each removed), without `buf:lint:ignore` lines. */
export function commentLines(desc: Parameters<typeof getComments>[0]): string[] {
  return (getComments(desc).leading ?? "")
    .split("\n")
    .map((l) => l.replace(/^ /, ""))
    .filter((line) => !line.startsWith("buf:lint:ignore"));
}

/** The comment of a declaration as text, its `Example:` line taken out as the example. */
function describe(desc: Parameters<typeof getComments>[0]): { text: string; example?: unknown } {
  let example: unknown;
  const kept = commentLines(desc).filter((line) => {
    const m = /^Example:\s*(\{.*\})\s*$/.exec(line);
    if (m) example = JSON.parse(m[1], (_key, value) => sampleFile(value));
    return !m;
  });
  return { text: kept.join("\n").trim(), example };
}

const errorCodes = [
  "VALIDATION_ERROR",
  "PRECONDITION_FAILED",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "CONFLICT",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "RATE_LIMITED",
  "REQUEST_HEADER_FIELDS_TOO_LARGE",
  "CLIENT_CLOSED_REQUEST",
  "INTERNAL_ERROR",
  "NOT_IMPLEMENTED",
  "SERVICE_UNAVAILABLE",
  "TIMEOUT",
];

/** The one error object of REST: a failed call's `error`, and a job item's `error`. */
const errorObject = {
  type: "object",
  description: "An error: a failed call's (under `error` of the envelope) or a job item's (its `error`), in one shape.",
  required: ["code", "message", "details", "requestId"],
  properties: {
    code: { type: "string", enum: errorCodes, description: "What kind of failure (see the README's table)." },
    message: { type: "string", description: "What went wrong, for a person." },
    details: {
      type: "array",
      description: "The fields at fault, for bad input.",
      items: {
        type: "object",
        required: ["field", "message"],
        properties: { field: { type: "string" }, message: { type: "string" } },
      },
    },
    requestId: { type: "string", description: "The request id, also in the X-Request-Id header." },
  },
};

const errorEnvelope = {
  type: "object",
  description:
    "The error envelope of every REST failure. A `:batch` call waited for (`?wait=`) whose every item failed also carries the `job`.",
  required: ["error"],
  properties: {
    error: { $ref: "#/components/schemas/flowforge.Error" },
    job: { $ref: "#/components/schemas/flowforge.jobs.v1.Job" },
  },
};

/** The error answers every operation may give, with an example of each one's code. */
const errorAnswers: Record<string, { description: string; code: string; message: string }> = {
  "400": {
    description: "Bad input: the fields at fault in `details`",
    code: "VALIDATION_ERROR",
    message: "algorithm: is required",
  },
  "401": {
    description: "No key, or one that is not valid",
    code: "UNAUTHORIZED",
    message: "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>",
  },
  "403": {
    description: "The key lacks the scope this route needs",
    code: "FORBIDDEN",
    message: 'this API key lacks the "crypto" scope',
  },
  "404": {
    description: "No such route or resource",
    code: "NOT_FOUND",
    message: "job 5f0c2c3e-8d1a-4f6b-9a57-0b1e2d3c4f5a not found",
  },
  "429": {
    description: "A quota used up (`Retry-After` says when to retry)",
    code: "RATE_LIMITED",
    message: "quota of 100 requests per minute for tier FREE used up; retry in 12 s",
  },
  default: {
    description: "Any other failure, in the same envelope",
    code: "INTERNAL_ERROR",
    message: "internal error",
  },
};

/** The query parameters of a file upload (the gRPC stream's first message, as REST takes it). */
const uploadParameters: Json[] = [
  {
    name: "filename",
    in: "query",
    required: false,
    description: "The file's name, kept with it (else the form part's name or Content-Disposition's).",
    schema: { type: "string" },
  },
  {
    name: "ttl_seconds",
    in: "query",
    required: false,
    description: "How long the file is kept, in seconds (the operator's longest by default).",
    schema: { type: "integer", minimum: 1 },
  },
];

const uploadText =
  "Stores a file of the caller's tenant and answers its id (`blob_...`), its size and SHA-256: send the file as the request body with its Content-Type (n8n's Binary File body, `curl --data-binary @file`), or as the one file part of a multipart/form-data form. Any file or document field of another route takes the id as `blob_id`.";

/** The enum's value names: full, and without the shared prefix in lower case (both are accepted). */
function enumNames(e: DescEnum): string[] {
  // The unset value last, so tools that show the first value show a real one.
  const full = [...e.values.filter((v) => v.number !== 0), ...e.values.filter((v) => v.number === 0)].map(
    (v) => v.name,
  );
  const short = e.sharedPrefix
    ? e.values.map((v) => v.name.slice(e.sharedPrefix!.length).toLowerCase()).filter((n) => !n.endsWith("unspecified"))
    : [];
  return [...full, ...short];
}

const ref = (m: DescMessage) => ({ $ref: `#/components/schemas/${m.typeName}` });

/** Schemas of the well-known types, as their JSON mapping writes them. */
const wellKnown: Record<string, Json> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", description: "Seconds with an `s` suffix, e.g. `1.5s`." },
  "google.protobuf.Value": { description: "Any JSON value." },
  "google.protobuf.Struct": { type: "object", additionalProperties: true },
  "google.protobuf.ListValue": { type: "array", items: {} },
  "google.protobuf.Any": {
    type: "object",
    required: ["@type"],
    properties: { "@type": { type: "string", description: "type.googleapis.com/<message type>" } },
    additionalProperties: true,
  },
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.FieldMask": { type: "string" },
  // REST writes a google.rpc.Status (a job item's error) as the error envelope's object.
  "google.rpc.Status": { $ref: "#/components/schemas/flowforge.Error" },
};

function scalarSchema(field: DescField): Json {
  switch (field.scalar) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte", contentEncoding: "base64" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int32", minimum: 0 };
    default:
      // 64-bit integers travel as strings in protobuf's JSON (numbers are accepted too).
      return { type: ["string", "integer"], format: "int64" };
  }
}

/** Builds component schemas for messages as they are reached. */
class Schemas {
  readonly components: Record<string, Json> = {
    "flowforge.ErrorEnvelope": structuredClone(errorEnvelope),
    "flowforge.Error": errorObject,
  };

  valueSchema(field: DescField, kind: "scalar" | "enum" | "message"): Json {
    if (kind === "enum") return { type: "string", enum: enumNames(field.enum!) };
    if (kind === "message") return this.message(field.message!);
    return scalarSchema(field);
  }

  fieldSchema(field: DescField): Json {
    const { text } = describe(field);
    const withText = (s: Json) => (text ? { ...s, description: text } : s);
    switch (field.fieldKind) {
      case "list":
        return withText({ type: "array", items: this.valueSchema(field, field.listKind) });
      case "map":
        return withText({ type: "object", additionalProperties: this.valueSchema(field, field.mapKind) });
      case "enum":
        return withText(this.valueSchema(field, "enum"));
      case "message":
        return withText(this.valueSchema(field, "message"));
      default:
        return withText(scalarSchema(field));
    }
  }

  message(m: DescMessage): Json {
    if (wellKnown[m.typeName]) return wellKnown[m.typeName];
    if (!this.components[m.typeName]) {
      this.components[m.typeName] = {}; // placeholder: recursive messages refer to themselves
      const properties: Record<string, Json> = {};
      const required: string[] = [];
      for (const f of m.fields) {
        properties[f.jsonName] = this.fieldSchema(f);
        if (/\bRequired\b/.test(describe(f).text)) required.push(f.jsonName);
      }
      const oneofs = m.oneofs.map((o) => `one of ${o.fields.map((f) => `\`${f.jsonName}\``).join(", ")}`);
      const text = [describe(m).text, ...oneofs.map((o) => `Set ${o}.`)].filter(Boolean).join("\n\n");
      this.components[m.typeName] = {
        type: "object",
        ...(text ? { description: text } : {}),
        properties,
        ...(required.length ? { required } : {}),
        additionalProperties: false,
      };
    }
    return ref(m);
  }
}

/**
 * An example input: the comment's `Example:`, else the required fields and the first member of
 * each oneof (or the first field) with plausible values.
 */
function exampleOf(m: DescMessage, depth = 0): Json {
  const out: Json = {};
  const required = m.fields.filter((f) => /\bRequired\b/.test(describe(f).text));
  const chosen = [...required, ...m.oneofs.map((o) => o.fields[0])];
  const fields = chosen.length ? [...new Set(chosen)] : m.fields.slice(0, 1);
  for (const f of fields) out[f.jsonName] = exampleValue(f, depth);
  return out;
}

function exampleValue(f: DescField, depth: number): unknown {
  const one = (): unknown => {
    if (f.enum) {
      const v = f.enum.values.find((x) => x.number !== 0) ?? f.enum.values[0];
      return f.enum.sharedPrefix ? v.name.slice(f.enum.sharedPrefix.length).toLowerCase() : v.name;
    }
    if (f.message) return wellKnown[f.message.typeName] || depth > 2 ? {} : exampleOf(f.message, depth + 1);
    switch (f.scalar) {
      case ScalarType.BOOL:
        return true;
      case ScalarType.BYTES:
        return "aGVsbG8=";
      case ScalarType.STRING:
        return "text";
      default:
        return 1;
    }
  };
  if (f.fieldKind === "list") return [one()];
  if (f.fieldKind === "map") return { key: one() };
  return one();
}

/** A route's REST rule read from the `google.api.http` option. */
type HttpRule = { pattern: { case?: string; value?: string }; body: string; additionalBindings: HttpRule[] };

/** The method's HTTP rule and its additional bindings, as verb, path and body. */
function rulesOf(method: DescMethod, http: DescExtension) {
  const options = method.proto.options;
  if (!options || !hasExtension(options, http)) return [];
  const rule = getExtension(options, http) as HttpRule;
  return [rule, ...rule.additionalBindings]
    .filter((r) => r.pattern.case && r.pattern.case !== "custom")
    .map((r) => ({ verb: r.pattern.case!, path: r.pattern.value!, body: r.body }));
}

/**
 * A route whose input takes files (file fields, or `bytes` ones) also takes a multipart/form-data
 * form (what n8n's HTTP Request node sends for binary data): a file part per file field, named
 * after it (repeat the part for a list), and the other fields as text parts (JSON for messages);
 * a text field may come as a file part too (its content, UTF-8). A route with one file field
 * takes the file itself as the body as well, the other fields in the query.
 */
function formContent(input: DescMessage): Json {
  const files = fileFields(input);
  const bytes: DescField[] = input.fields.filter((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.BYTES);
  if (files.length === 0 && bytes.length === 0) return {};
  const properties: Json = {};
  for (const f of input.fields) {
    if (files.includes(f)) properties[f.name] = f.fieldKind === "list" ? { type: "array", items: binary } : binary;
    else if (bytes.includes(f)) properties[f.name] = { ...binary, description: "a file part (its bytes)" };
    else if (f.fieldKind === "list")
      properties[f.name] = {
        type: "array",
        items: { type: "string" },
        description: `one part per element${f.listKind === "message" ? " (each as JSON text)" : ""}, or one part holding a JSON list`,
      };
    else
      properties[f.name] = {
        type: "string",
        description:
          f.fieldKind === "scalar" && f.scalar === ScalarType.STRING
            ? "as text, or a file part (its content, UTF-8)"
            : f.fieldKind === "scalar" || f.fieldKind === "enum"
              ? "as text"
              : "as JSON text",
      };
  }
  const file = bodyFileField(input);
  return {
    "multipart/form-data": { schema: { type: "object", properties } },
    ...(file
      ? {
          [file.message ? fileMediaType(file) : "application/octet-stream"]: {
            schema: {
              ...binary,
              description: `The ${file.name} file itself as the body, with its Content-Type; the other fields as query parameters${queryNames(input, file)} (with this body only: JSON and forms carry every field in the body).`,
            },
          },
        }
      : {}),
  };
}

/** `: a, b.…` — the fields a raw file body leaves to the query, as the query takes them (a message's by dotted path). */
function queryNames(input: DescMessage, file: DescField): string {
  const names = input.fields
    .filter((f) => f !== file && f.fieldKind !== "map" && (f.oneof === undefined || f.oneof !== file.oneof))
    .map((f) => `\`${f.name}${f.fieldKind === "message" && !isScalarJson(f.message) ? ".…" : ""}\``);
  return names.length ? `: ${names.join(", ")}` : "";
}

/** The 200 answer: JSON, or the file itself when the caller's Accept prefers a file type to JSON. */
function okAnswer(output: DescMessage, schema: Json): Json {
  const types = [...answerMediaTypes(output)];
  return {
    description:
      types.length === 0
        ? "OK"
        : `OK. With \`?answer=file\`, or an Accept header that prefers ${types.join(" or ")} to JSON, the file itself (Content-Type and Content-Disposition set) when the answer holds exactly one; 406 when it holds none or several.`,
    content: {
      "application/json": { schema },
      ...Object.fromEntries(types.map((t) => [t, { schema: binary }])),
    },
  };
}

/** The document of `services`' routes; `runsAsJobs` says which get `:batch` twins (as the gateway serves them). */
export function openapiDocument(
  registry: Registry,
  services: DescService[],
  runsAsJobs: (service: DescService) => boolean,
): Json {
  const http = registry.getExtension("google.api.http");
  if (!http) throw new Error("google/api/annotations.proto is not among the inputs");
  const schemas = new Schemas();
  const paths: Record<string, Record<string, Json>> = {};
  const tags = new Map<string, string>();
  const errorResponses = Object.fromEntries(
    Object.keys(errorAnswers).map((status) => [status, { $ref: `#/components/responses/Error${status}` }]),
  );
  const submit = registry.getMessage("flowforge.jobs.v1.SubmitJobResponse");
  const getJob = registry.getMessage("flowforge.jobs.v1.GetJobResponse");
  const webhook = registry.getMessage("flowforge.jobs.v1.Webhook");
  // The error envelope names the job (a batch waited for whose every item failed).
  const job = registry.getMessage("flowforge.jobs.v1.Job");
  if (job) schemas.message(job);
  else delete (schemas.components["flowforge.ErrorEnvelope"] as { properties: Record<string, Json> }).properties.job;
  const answerParameter = {
    name: "answer",
    in: "query",
    required: false,
    description:
      "`file`: answer the file the answer holds as itself (Content-Type and Content-Disposition set), whatever Accept says — what a workflow tool that keeps binary data wants; `json`: the JSON answer. Unset: by Accept.",
    schema: { type: "string", enum: ["file", "json"] },
  };
  const waitParameter = {
    name: "wait",
    in: "query",
    required: false,
    description: "Answer once the job has finished or this much time has passed (e.g. `30s`; at most 120 s).",
    schema: { type: "string", pattern: "^\\d+(\\.\\d+)?(ms|s|m)?$" },
  };

  for (const service of services) {
    const serviceText = describe(service).text;
    for (const method of service.methods) {
      for (const [binding, rule] of rulesOf(method, http).entries()) {
        const { segments, suffix } = parseTemplate(rule.path);
        const pathFields = segments.flatMap((s) => ("field" in s ? [s.field] : []));
        const openapiPath = rule.path; // `{field}` is OpenAPI's syntax too
        const tag = prefixOf(rule.path);
        if (!tags.has(tag)) tags.set(tag, serviceText);
        const { text, example } = describe(method);
        const summary = text.split(/(?<=\.)\s/)[0];
        const parameters: Json[] = pathFields.map((name) => {
          const field = method.input.fields.find((f) => f.name === name)!;
          return { name, in: "path", required: true, schema: schemas.fieldSchema(field) };
        });
        if (rule.body === "") {
          for (const f of method.input.fields) {
            if (pathFields.includes(f.name) || f.fieldKind === "map") continue;
            if (f.fieldKind === "message" && !isScalarJson(f.message)) continue;
            parameters.push({ name: f.name, in: "query", required: false, schema: schemas.fieldSchema(f) });
          }
        }
        if (`${service.typeName}.${method.name}` === waitableMethod) parameters.push(waitParameter);
        if (method.methodKind === "unary" && answerMediaTypes(method.output).size > 0) parameters.push(answerParameter);
        const streaming = method.methodKind === "server_streaming";
        const fileIn = method.methodKind === "client_streaming" && isFileStream(method.input);
        const fileOut = streaming && isFileStream(method.output);
        if (fileIn) parameters.push(...uploadParameters);
        const operation: Json = {
          operationId: `${service.name}_${method.name}${binding === 0 ? "" : `_${rule.verb.toUpperCase()}`}`,
          summary: fileIn ? "Stores a file: the request body itself, or a form's file part" : summary,
          description: fileIn ? uploadText : text,
          tags: [tag],
          ...(parameters.length ? { parameters } : {}),
          ...(fileIn
            ? {
                requestBody: {
                  required: true,
                  description:
                    "The file: the body itself (Content-Type says what it is), or a multipart/form-data form with one file part.",
                  content: {
                    "application/octet-stream": { schema: binary },
                    "multipart/form-data": {
                      schema: {
                        type: "object",
                        properties: {
                          file: binary,
                          filename: { type: "string", description: "Overrides the file part's own name." },
                          ttl_seconds: { type: "integer", description: "As the query parameter." },
                        },
                        required: ["file"],
                      },
                    },
                  },
                },
              }
            : rule.body === "*" && method.input.fields.some((f) => !pathFields.includes(f.name))
              ? {
                  requestBody: {
                    required: true,
                    content: {
                      ...formContent(method.input),
                      "application/json": {
                        schema: schemas.message(method.input),
                        // Path variables travel in the path, not in the body.
                        example:
                          example ??
                          Object.fromEntries(
                            Object.entries(exampleOf(method.input)).filter(
                              ([k]) =>
                                !pathFields.some((f) => method.input.fields.find((x) => x.name === f)?.jsonName === k),
                            ),
                          ),
                      },
                    },
                  },
                }
              : {}),
          responses: {
            [fileIn ? "201" : "200"]: fileOut
              ? {
                  description: "The file itself, with its Content-Type and Content-Disposition.",
                  content: { "*/*": { schema: binary } },
                }
              : fileIn
                ? { description: "Stored", content: { "application/json": { schema: schemas.message(method.output) } } }
                : streaming
                  ? {
                      description: `Server-Sent Events: each event's data is a ${method.output.typeName} as JSON; \`id\` is its sequence (send it back as Last-Event-ID to resume).`,
                      content: { "text/event-stream": { schema: { type: "string" } } },
                    }
                  : okAnswer(method.output, schemas.message(method.output)),
            ...errorResponses,
          },
        };
        paths[openapiPath] = { ...paths[openapiPath], [rule.verb]: operation };

        if (
          binding === 0 &&
          submit &&
          getJob &&
          webhook &&
          runsAsJobs(service) &&
          batchable(method, { verb: rule.verb.toUpperCase(), body: rule.body }, suffix)
        ) {
          // The path's variables fill every item: the items leave them out.
          const pathJson = pathFields.map((f) => method.input.fields.find((x) => x.name === f)?.jsonName);
          const item = Object.fromEntries(
            Object.entries((example ?? exampleOf(method.input)) as Record<string, unknown>).filter(
              ([k]) => !pathJson.includes(k),
            ),
          );
          const batchExample = { items: [item] };
          const batchOperation: Json = {
            operationId: `${service.name}_${method.name}_Batch`,
            summary: `${method.name} for many inputs, as one job`,
            description: `Submits a job running ${method.name} once per item. Items are ${method.input.typeName} without "@type". The answer is the queued job; with \`?wait=\` the job once it has finished (or the wait ran out) — unless every item failed: then the status most items failed with, the error envelope (each item's field violations under \`items[i].\`) and the job beside it.`,
            tags: [tag],
            // A path variable fills that field of every item.
            parameters: [...parameters.filter((p) => p.in === "path"), waitParameter],
            requestBody: {
              required: true,
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    required: ["items"],
                    properties: {
                      items: { type: "array", minItems: 1, items: schemas.message(method.input) },
                      idempotencyKey: {
                        type: "string",
                        description: "A retried submit with the same key returns the same job.",
                      },
                      webhook: schemas.message(webhook),
                    },
                    additionalProperties: false,
                  },
                  example: batchExample,
                },
              },
            },
            responses: {
              "200": {
                description: "The job",
                content: {
                  // SubmitJob's answer and GetJob's have the one field `job`: the same schema.
                  "application/json": { schema: schemas.message(getJob) },
                },
              },
              ...errorResponses,
            },
          };
          paths[`${rule.path}:batch`] = { post: batchOperation };
        }
      }
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "FlowForge",
      version: "v1",
      description:
        "Typed computation for workflow tools. Enum values are accepted without their prefix, in any case and with or without `-` and `_` (`sha256` or `SHA-256` for `HASH_ALGORITHM_SHA256`); answers include zero values. Every failure answers the error envelope, and a job item's error has the same shape as the envelope's `error`.",
    },
    servers: [{ url: "/" }],
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    tags: [...tags].map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "An API key (`ffk_...`) or a JWT." },
        apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key" },
      },
      responses: Object.fromEntries(
        Object.entries(errorAnswers).map(([status, { description, code, message }]) => [
          `Error${status}`,
          {
            description,
            content: {
              "application/json": {
                schema: { $ref: "#/components/schemas/flowforge.ErrorEnvelope" },
                example: { error: { code, message, details: [], requestId: "5f0c2c3e-8d1a-4f6b-9a57-0b1e2d3c4f5a" } },
              },
            },
          },
        ]),
      ),
      schemas: schemas.components,
    },
  };
}

/** The protos' descriptors with their comments, as `buf build` reads the module. */
export function builtRegistry(root: string): { registry: Registry; ours: DescService[] } {
  const image = execFileSync("npx", ["buf", "build", "-o", "-#format=binpb"], { cwd: root, maxBuffer: 256 << 20 });
  const set = fromBinary(FileDescriptorSetSchema, image);
  const registry = createFileRegistry(set);
  const ours = set.file
    .filter((f) => f.name.startsWith("flowforge/"))
    .flatMap((f) => registry.getFile(f.name)?.services ?? []);
  return { registry, ours };
}
