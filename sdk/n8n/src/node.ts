/**
 * A FlowForge capability as an n8n node, from the catalogue `npm run generate` writes from the
 * contracts (catalog.json): an operation per method, a parameter per request field (enums as
 * options, files and bytes from the item's binary data, messages as JSON), answered files as
 * binary data, all items as one job with "Run as a Job", and errors that name the field.
 * n8n provides `n8n-workflow` to the nodes it loads; this package has no other dependency.
 */
import catalog from "./catalog.json";

/** The catalogue's shapes (scripts/generate.ts writes catalog.json in them). */
export type Kind = "string" | "number" | "boolean" | "options" | "file" | "files" | "bytes" | "json" | "collection";
export interface Field {
  name: string;
  displayName: string;
  kind: Kind;
  description: string;
  required: boolean;
  /** A list of scalars or enum values: several options, or text separated by commas (or a JSON list). */
  repeated?: boolean;
  options?: { name: string; value: string }[];
  /** A collection's fields (a nested message of scalars and enums). */
  fields?: Field[];
}
export interface Operation {
  value: string;
  name: string;
  description: string;
  verb: string;
  path: string;
  batch: boolean;
  answersFile: boolean;
  fields: Field[];
}
export interface Capability {
  name: string;
  displayName: string;
  description: string;
  operations: Operation[];
}
type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
interface Item {
  json: Record<string, Json>;
  binary?: Record<string, unknown>;
  pairedItem?: { item: number };
}
interface Response {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}
/** The part of n8n's execution context a node uses. */
interface Context {
  getInputData(): Item[];
  getNodeParameter(name: string, index: number, fallback?: unknown): unknown;
  getCredentials(name: string): Promise<Record<string, unknown>>;
  getNode(): unknown;
  continueOnFail(): boolean;
  helpers: {
    httpRequest(options: Record<string, unknown>): Promise<Response>;
    assertBinaryData(index: number, property: string): { mimeType: string; fileName?: string };
    getBinaryDataBuffer(index: number, property: string): Promise<Buffer>;
    prepareBinaryData(data: Buffer, fileName?: string, mimeType?: string): Promise<unknown>;
  };
}

// n8n hands its own n8n-workflow to the nodes it loads (on NODE_PATH).
const workflow = require("n8n-workflow") as {
  NodeApiError: new (node: unknown, error: Record<string, Json>, options: Record<string, unknown>) => Error;
};

const capabilities = catalog as Capability[];

/** The node's parameters: the operation, then each operation's fields. */
function properties(capability: Capability): Record<string, unknown>[] {
  const shown = (op: Operation) => ({ show: { operation: [op.value] } });
  const props: Record<string, unknown>[] = [
    {
      displayName: "Operation",
      name: "operation",
      type: "options",
      noDataExpression: true,
      options: capability.operations.map((op) => ({
        name: op.name,
        value: op.value,
        description: op.description,
        action: op.description.replace(/\.$/, ""),
      })),
      default: capability.operations[0].value,
    },
  ];
  for (const op of capability.operations)
    for (const field of op.fields) props.push({ ...property(field), displayOptions: shown(op) });
  const filed = capability.operations.filter((op) => op.answersFile).map((op) => op.value);
  if (filed.length)
    props.push({
      displayName: "Put Output File in Field",
      name: "outputBinaryField",
      type: "string",
      default: "data",
      displayOptions: { show: { operation: filed } },
      hint: "The binary field the answered file goes in; the input item's other binary fields are kept",
    });
  const batched = capability.operations.filter((op) => op.batch).map((op) => op.value);
  if (batched.length)
    props.push({
      displayName: "Run as a Job",
      name: "asJob",
      type: "boolean",
      default: false,
      displayOptions: { show: { operation: batched } },
      description:
        "Whether to send every input item as one FlowForge job (a batch) and wait for it: one output item per input item, each with its result or its error",
    });
  return props;
}

/** A field's parameter (a collection's fields nested in it). */
function property(field: Field): Record<string, unknown> {
  const common = {
    displayName: field.displayName,
    name: field.name,
    description: field.description,
    required: field.required,
  };
  const list = field.repeated ? { hint: "Several values: separated by commas, or a JSON list" } : {};
  switch (field.kind) {
    case "number":
      return field.repeated
        ? { ...common, ...list, type: "string", default: "" }
        : { ...common, type: "number", default: 0 };
    case "boolean":
      return { ...common, type: "boolean", default: false };
    case "options":
      return field.repeated
        ? { ...common, type: "multiOptions", options: field.options ?? [], default: [] }
        : {
            ...common,
            type: "options",
            options: [{ name: "(Default)", value: "" }, ...(field.options ?? [])],
            default: "",
          };
    case "file":
    case "bytes":
      return {
        ...common,
        displayName: `${field.displayName} (Input Binary Field)`,
        type: "string",
        default: field.required ? "data" : "",
        hint: "The name of the input item's binary field holding the file (or a FlowForge blob id, blob_…)",
      };
    case "files":
      return {
        ...common,
        displayName: `${field.displayName} (Input Binary Fields)`,
        type: "string",
        default: field.required ? "data" : "",
        hint: "Binary field names, separated by commas: one file each, in order",
      };
    case "collection":
      return {
        ...common,
        type: "collection",
        placeholder: `Add ${field.displayName} Option`,
        default: {},
        options: (field.fields ?? []).map(property),
      };
    case "json":
      return { ...common, type: "json", default: "" };
    default:
      return { ...common, ...list, type: "string", default: "" };
  }
}

/** A list parameter's values: a JSON list, or text separated by commas; `path` names it in errors. */
function listOf(value: Json, field: Field, path = field.name): Json[] {
  if (Array.isArray(value)) return value;
  const text = String(value).trim();
  if (text.startsWith("["))
    try {
      return JSON.parse(text);
    } catch {
      throw new Refused(path, "not a valid JSON list");
    }
  return text
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => {
      if (field.kind !== "number") return v;
      const n = Number(v);
      if (Number.isNaN(n)) throw new Refused(path, `${v} is not a number`);
      return n;
    });
}

/** A collection's value as its message's JSON (lists split, empty values left out). */
function collectionOf(value: Json, field: Field): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [key, v] of Object.entries((value ?? {}) as Record<string, Json>)) {
    const sub = field.fields?.find((f) => f.name === key);
    if (!sub || v === "" || v === null) continue;
    out[key] = sub.repeated ? listOf(v, sub, `${field.name}.${sub.name}`) : v;
  }
  return out;
}

/** One input item's request: each parameter set (empty ones left out), files read from its binary data. */
async function requestOf(ctx: Context, op: Operation, index: number): Promise<Record<string, Json>> {
  const body: Record<string, Json> = {};
  const file = async (field: Field, property: string): Promise<Record<string, Json>> => {
    if (property.startsWith("blob_")) return { blobId: property };
    if (!ctx.getInputData()[index]?.binary?.[property])
      throw new Refused(
        field.name,
        `item ${index} has no binary data named "${property}" (it has: ${Object.keys(ctx.getInputData()[index]?.binary ?? {}).join(", ") || "none"}); give the name of one, or a blob id`,
      );
    ctx.helpers.assertBinaryData(index, property);
    return { data: (await ctx.helpers.getBinaryDataBuffer(index, property)).toString("base64") };
  };
  for (const field of op.fields) {
    const value = ctx.getNodeParameter(field.name, index, undefined) as Json | undefined;
    if (value === undefined || value === "" || value === null) continue;
    if (field.repeated && field.kind !== "json") {
      const values = listOf(value, field);
      if (values.length) body[field.name] = values;
      continue;
    }
    switch (field.kind) {
      case "collection": {
        const message = collectionOf(value, field);
        if (Object.keys(message).length) body[field.name] = message;
        break;
      }
      case "number":
      case "boolean":
        if (value === 0 || value === false) continue;
        body[field.name] = value;
        break;
      case "file":
        body[field.name] = await file(field, String(value).trim());
        break;
      case "files":
        body[field.name] = await Promise.all(
          String(value)
            .split(",")
            .map((p) => p.trim())
            .filter(Boolean)
            .map((property) => file(field, property)),
        );
        break;
      case "bytes":
        body[field.name] = (await file(field, String(value).trim())).data ?? "";
        break;
      case "json":
        try {
          body[field.name] = typeof value === "string" ? JSON.parse(value) : value;
        } catch {
          throw new Refused(field.name, "not valid JSON");
        }
        break;
      default:
        body[field.name] = value;
    }
  }
  return body;
}

/** The route with its `{field}` variables filled from (and taken out of) the request. */
function routeOf(path: string, body: Record<string, Json>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const key = Object.keys(body).find((k) => k.toLowerCase() === name.replace(/_/g, "").toLowerCase());
    const value = key === undefined ? "" : String(body[key]);
    if (key !== undefined) delete body[key];
    return encodeURIComponent(value);
  });
}

const filename = (disposition: string | undefined) => /filename="([^"]+)"/.exec(disposition ?? "")?.[1];

/** An error as the gateway's envelope has it: a stable code, a message, each bad field. */
interface Envelope {
  code: string;
  message: string;
  details?: { field: string; message: string }[];
}

/** The envelope of a refused call (or the HTTP status and the start of the body, were it not one). */
function envelopeOf(response: Response): Envelope {
  try {
    const { error } = JSON.parse(response.body.toString("utf8")) as { error?: Envelope };
    if (error?.code) return error;
  } catch {}
  return { code: `HTTP_${response.statusCode}`, message: response.body.toString("utf8").slice(0, 500) };
}

/** A request the gateway never answered (nothing listens, a name that does not resolve, a timeout). */
class Unreachable extends Error {
  constructor(
    readonly envelope: Envelope,
    cause: unknown,
  ) {
    super(envelope.message, { cause });
  }
}

/** An item's parameter refused before anything is sent, as the gateway refuses bad input. */
class Refused extends Error {
  readonly envelope: Envelope;
  constructor(field: string, description: string) {
    super(`${field}: ${description}`);
    this.envelope = {
      code: "VALIDATION_ERROR",
      message: `${field}: ${description}`,
      details: [{ field, message: description }],
    };
  }
}

/** An error as an n8n error naming the fields, or as the item's output on "Continue". */
function failure(ctx: Context, error: Envelope, index: number, status?: number): Item {
  if (ctx.continueOnFail()) return { json: { error: error as unknown as Json }, pairedItem: { item: index } };
  const fields = (error.details ?? []).map((d) => `${d.field}: ${d.message}`).join("\n");
  throw new workflow.NodeApiError(ctx.getNode(), error as unknown as Record<string, Json>, {
    message: `${error.code}: ${error.message}`,
    description: fields || undefined,
    httpCode: status === undefined ? undefined : String(status),
    itemIndex: index,
  });
}

async function execute(this: Context, capability: Capability): Promise<Item[][]> {
  const items = this.getInputData();
  const credentials = await this.getCredentials("flowForgeApi");
  const base = String(credentials.url).replace(/\/$/, "");
  const headers = { authorization: `Bearer ${String(credentials.apiKey)}`, accept: "application/json" };
  const call = async (method: string, url: string, body?: Json): Promise<Response> => {
    try {
      return await this.helpers.httpRequest({
        method,
        url,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        encoding: "arraybuffer",
        returnFullResponse: true,
        ignoreHttpStatusErrors: true,
      });
    } catch (err) {
      // Every HTTP status comes back as a response: what is thrown here never reached the gateway.
      throw new Unreachable(
        {
          code: "SERVICE_UNAVAILABLE",
          message: `no answer from the FlowForge gateway at ${base}: ${(err as Error).message}`,
        },
        err,
      );
    }
  };
  const op = capability.operations.find((o) => o.value === this.getNodeParameter("operation", 0))!;
  // Each item's request; one refused here (a missing file, a bad list) is that item's error
  // (or stops the workflow), and nothing is sent for it.
  const out: Item[] = [];
  const requests: { index: number; request: Record<string, Json> }[] = [];
  for (let index = 0; index < items.length; index++) {
    try {
      requests.push({ index, request: await requestOf(this, op, index) });
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      out.push(failure(this, err.envelope, index));
    }
  }

  if (op.batch && this.getNodeParameter("asJob", 0, false) && requests.length > 0) {
    // The route from the first item; every item's path fields taken out of its request.
    const [path] = requests.map((r) => routeOf(op.path, r.request));
    type JobAnswer = {
      job: {
        id: string;
        state: string;
        nextItemsPageToken?: string;
        items: { index: number; result?: Record<string, Json>; error?: Record<string, Json> }[];
      };
    };
    const finished = ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"];
    let answer: JobAnswer | undefined;
    try {
      // Submitted and waited for (at most 120 s a request: the gateway's longest wait), then every
      // page of its items read (a page holds at most 1,000).
      let response = await call("POST", `${base}${path}:batch?wait=120s`, { items: requests.map((r) => r.request) });
      for (;;) {
        if (response.statusCode >= 400 && !/"job"/.test(response.body.toString("utf8")))
          return [[...out, failure(this, envelopeOf(response), requests[0].index, response.statusCode)]];
        const page = JSON.parse(response.body.toString("utf8")) as JobAnswer;
        const jobUrl = `${base}/api/v1/jobs/${encodeURIComponent(page.job.id)}?items_page_size=1000`;
        if (!finished.includes(page.job.state)) {
          response = await call("GET", `${jobUrl}&wait=120s`);
          continue;
        }
        answer = answer ? { job: { ...page.job, items: [...answer.job.items, ...page.job.items] } } : page;
        if (!page.job.nextItemsPageToken) break;
        response = await call("GET", `${jobUrl}&items_page_token=${encodeURIComponent(page.job.nextItemsPageToken)}`);
      }
    } catch (err) {
      if (err instanceof Unreachable) return [[...out, failure(this, err.envelope, requests[0].index)]];
      throw err;
    }
    for (const item of answer.job.items)
      out.push({
        json: item.error
          ? { error: item.error, jobId: answer.job.id }
          : { ...(item.result ?? {}), jobId: answer.job.id },
        pairedItem: { item: requests[item.index].index },
      });
    return [out.sort((a, b) => (a.pairedItem?.item ?? 0) - (b.pairedItem?.item ?? 0))];
  }

  for (const { index, request } of requests) {
    const body = { ...request };
    let url = `${base}${routeOf(op.path, body)}`;
    if (op.verb === "GET" || op.verb === "DELETE") {
      const query = new URLSearchParams(
        Object.entries(body).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
      );
      if ([...query].length) url += `?${query}`;
    }
    const withBody = op.verb !== "GET" && op.verb !== "DELETE" ? body : undefined;
    let response: Response;
    try {
      response = await call(
        op.verb,
        op.answersFile ? `${url}${url.includes("?") ? "&" : "?"}answer=file` : url,
        withBody,
      );
      // Several files (or none) cannot be one binary answer: then the JSON.
      if (response.statusCode === 406 && op.answersFile) response = await call(op.verb, url, withBody);
    } catch (err) {
      if (!(err instanceof Unreachable)) throw err;
      out.push(failure(this, err.envelope, index));
      continue;
    }
    if (response.statusCode >= 400) {
      out.push(failure(this, envelopeOf(response), index, response.statusCode));
      continue;
    }
    const type = response.headers["content-type"] ?? "";
    if (/json/.test(type)) {
      out.push({ json: JSON.parse(response.body.toString("utf8")), pairedItem: { item: index } });
      continue;
    }
    const name = filename(response.headers["content-disposition"]);
    const data = await this.helpers.prepareBinaryData(Buffer.from(response.body), name, type.split(";")[0]);
    const field = String(this.getNodeParameter("outputBinaryField", index, "data") || "data");
    out.push({
      json: { fileName: name ?? null, mimeType: type.split(";")[0] },
      binary: { ...(items[index].binary ?? {}), [field]: data },
      pairedItem: { item: index },
    });
  }
  return [out.sort((a, b) => (a.pairedItem?.item ?? 0) - (b.pairedItem?.item ?? 0))];
}

/** The node class n8n instantiates for `name`'s capability. */
export function nodeClass(name: string) {
  const found = capabilities.find((c) => c.name === name);
  if (!found) throw new Error(`no capability ${name} in the catalogue`);
  const capability: Capability = found;
  const typeName = `flowForge${capability.displayName.replace(/^FlowForge /, "").replace(/ /g, "")}`;
  return class {
    description = {
      displayName: capability.displayName,
      name: typeName,
      icon: "file:../../flowforge.svg",
      group: ["transform"],
      version: 1,
      subtitle: '={{$parameter["operation"]}}',
      description: capability.description,
      defaults: { name: capability.displayName },
      inputs: ["main"],
      outputs: ["main"],
      credentials: [{ name: "flowForgeApi", required: true }],
      properties: properties(capability),
    };

    async execute(this: Context): Promise<Item[][]> {
      return execute.call(this, capability);
    }
  };
}
