/**
 * The REST transport: `/api/v1/...` routes from the contracts' `google.api.http` rules, served by
 * the same service implementations (forwarded or local) and the same policy chain as every other
 * protocol. Friendly JSON in (enum values without their prefix, batches without `@type`), every
 * field out (zero values included), the REST error envelope on failure. Server-streaming
 * methods answer as Server-Sent Events; `?wait=` long-polls a job (GetJob, and `:batch`).
 */
import type * as http from "node:http";
import { create, type DescMessage, type DescMethod, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createContextValues,
  createHandlerContext,
  type HandlerContext,
} from "@connectrpc/connect";
import {
  GetJobRequestSchema,
  JobService,
  JobState,
  SubmitJobRequestSchema,
  type Job,
  type WatchJobResponse,
} from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { invalidArgument, toPublicError, withRequestId } from "#runtime/errors.js";
import type { ServiceRegistration } from "#runtime/registration.js";
import type { Logger } from "#runtime/logger.js";
import type { PolicyChain } from "../../policies/policy.js";
import { HandlerCall } from "../handler-call.js";
import { gatewayJsonOptions, toJsonText } from "../json-options.js";
import { type RestAnswer, restError, restRefusal, writeRestError } from "./envelope.js";
import { maxQueryParameters, restInput } from "./request.js";
import { type RestRoute, RestRouter, restRoutes } from "./routes.js";
import { isFileStream, waitableMethod } from "./templates.js";
import {
  dispositionFilename,
  filesOf,
  formInput,
  formParts,
  isMultipart,
  sniffType,
  wantsFile,
  writeFileHead,
} from "./files.js";
import type { BlobStore } from "#blobs/index.js";
import { tenantKey } from "#runtime/context.js";
import { type UploadRequest, UploadRequestSchema } from "#gen/flowforge/blob/v1/blob_pb.js";
import {
  type Req,
  type Res,
  answerFields,
  callerGone,
  discardRest,
  headersOf,
  jsonContentType,
  readBody,
  send,
  validQueryText,
} from "../node-http.js";

type Impl = (request: unknown, context: HandlerContext) => unknown;

/** Options for createRest. */
export interface RestOptions {
  /** Every service the gateway serves (forwarded and local), with its implementation. */
  services: ServiceRegistration[];
  /** The gateway's policies. */
  policies: PolicyChain;
  /** Largest request body, in bytes. */
  maxRequestBytes: number;
  /** Deadline for calls that bring none. */
  defaultTimeoutMs: number;
  /** Whether a service's methods can run as jobs (they get `:batch` routes). */
  batchable: (service: DescService) => boolean;
  logger: Logger;
  /** The blob store: form parts too large to inline go there, and answers that are blobs come from it. */
  store?: BlobStore;
}

/** The REST prefix every route lives under. */
export const restPrefix = "/api/v1/";
/** Longest `?wait=`. */
export const maxWaitMs = 120_000;
const finalStates = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]);
/** A comment line on an idle event stream this often keeps proxies from closing it. */
const heartbeatMs = 15_000;

/** Reads `30s`, `500ms`, `2m` or plain seconds. */
function parseWait(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw invalidArgument("wait", `must be a duration such as 30s or 500ms, not "${text}"`);
  const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000);
  if (ms > maxWaitMs) throw invalidArgument("wait", `must be at most ${maxWaitMs / 1000}s`);
  return ms;
}

/** Writes a chunk of a file answer, waiting for the socket to drain when it is full. */
async function writeChunk(res: Res, chunk: Uint8Array): Promise<void> {
  if (!(res as http.ServerResponse).write(chunk)) await new Promise((r) => res.once("drain", r));
}

/** Answers as JSON with every field, zero values included. */
function jsonOf(schema: DescMessage, message: unknown): string {
  return toJsonText(schema, create(schema, message as never), {
    alwaysEmitImplicit: true,
    registry: gatewayJsonOptions.registry,
  });
}

/** Answers JSON with `headers`. */
const sendJson = (res: Res, status: number, headers: Record<string, string>, body: string) =>
  send(res, status, { "content-type": "application/json", ...headers }, body);

/** What answerFile needs: the call, the answer and whose blobs it may name. */
interface FileAnswer {
  req: Req;
  res: Res;
  schema: DescMessage;
  answered: Record<string, unknown>;
  requestId: string;
  tenant: string;
}

/** Creates the REST transport; its handler claims every path under `/api/v1/`. */
export function createRest(options: RestOptions) {
  const impls = new Map<DescMethod, Impl>();
  for (const { service, impl } of options.services) {
    for (const method of service.methods) {
      const fn = (impl as Record<string, Impl | undefined>)[method.localName];
      if (fn) impls.set(method, fn.bind(impl));
    }
  }
  const router = new RestRouter(
    restRoutes(
      options.services.map((s) => s.service),
      options.batchable,
    ),
  );
  const implOf = (method: DescMethod): Impl => {
    const fn = impls.get(method);
    if (!fn) throw new ConnectError(`${method.parent.typeName}/${method.name} is not served here`, Code.Unimplemented);
    return fn;
  };
  const jobMethod = (name: "submitJob" | "getJob" | "watchJob") => JobService.method[name];

  /** The job once it has finished or `waitMs` passed (a watch from its latest event), then read again. */
  async function awaitJob(job: Job, waitMs: number, context: HandlerContext): Promise<MessageShape<DescMessage>> {
    const get = () =>
      implOf(jobMethod("getJob"))(create(GetJobRequestSchema, { jobId: job.id }), context) as Promise<
        MessageShape<DescMessage>
      >;
    if (finalStates.has(job.state)) return get();
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), waitMs);
    const onAbort = () => stop.abort();
    context.signal.addEventListener("abort", onAbort, { once: true });
    const watchContext = createHandlerContext({
      service: JobService,
      method: jobMethod("watchJob"),
      protocolName: "rest",
      requestMethod: "GET",
      url: "",
      requestSignal: stop.signal,
      requestHeader: context.requestHeader,
      contextValues: context.values,
    });
    try {
      const events = implOf(jobMethod("watchJob"))(
        { jobId: job.id, afterSequence: job.lastSequence },
        watchContext,
      ) as AsyncIterable<WatchJobResponse>;
      for await (const e of events) {
        if (e.event.case === "stateChanged" && finalStates.has(e.event.value.state)) break;
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      context.signal.removeEventListener("abort", onAbort);
      stop.abort();
    }
    return get();
  }

  /** The batch route's input: `{"items": [...], "idempotencyKey"?, "webhook"?}` as a SubmitJobRequest. */
  function batchInput(route: RestRoute, body: unknown) {
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw invalidArgument("body", 'must be a JSON object: {"items": [...]}');
    const { items, ...rest } = body as { items?: unknown };
    if (!Array.isArray(items) || items.length === 0)
      throw invalidArgument("items", `must be a non-empty list of ${route.method.input.typeName}`);
    const packed = items.map((item, i) => {
      try {
        return anyPack(
          route.method.input,
          restInput(route.method.input, { params: {}, query: new URLSearchParams(), body: item, bodyField: "*" }),
        );
      } catch (err) {
        throw prefixFields(ConnectError.from(err), `items[${i}]`);
      }
    });
    const submit = restInput(SubmitJobRequestSchema, {
      params: {},
      query: new URLSearchParams(),
      body: rest,
      bodyField: "*",
    });
    submit.method = `${route.service.typeName}/${route.method.name}`;
    submit.items = packed;
    return submit;
  }

  async function serve(
    route: RestRoute,
    params: Record<string, string>,
    req: Req,
    res: Res,
    query: URLSearchParams,
    hasBody: boolean,
  ) {
    const requestId = req.headers["x-request-id"] as string;
    const gone = callerGone(res);
    try {
      const waitText = query.get("wait");
      query.delete("wait");
      const waitMs = waitText === null ? undefined : parseWait(waitText);
      const isGetJob = `${route.service.typeName}.${route.method.name}` === waitableMethod;
      if (waitMs !== undefined && !route.batch && !isGetJob)
        throw invalidArgument("wait", "applies to GET /api/v1/jobs/{job_id} and to :batch routes only");
      if (hasBody && route.body === "")
        throw invalidArgument("body", `${route.verb} ${route.template} takes no body; send its fields in the query`);
      let received = 0;
      const readJson = async (): Promise<unknown> => {
        if (!hasBody) return undefined;
        const raw = await readBody(req, options.maxRequestBytes, 0);
        received = raw.length;
        let text: string;
        try {
          text = gatewayJsonOptions.textDecoder.decode(raw);
        } catch (cause) {
          throw invalidArgument("body", "is not valid UTF-8", cause);
        }
        if (text.trim() === "") return undefined;
        try {
          return JSON.parse(text);
        } catch (cause) {
          throw invalidArgument("body", `is not valid JSON: ${(cause as Error).message}`, cause);
        }
      };
      const streaming = route.method.methodKind === "server_streaming";
      const lastEventId = req.headers["last-event-id"];
      const values = createContextValues();
      const form = hasBody && isMultipart(req.headers["content-type"]);
      const readForm = async () => {
        const tenant = values.get(tenantKey);
        const read = await formInput(req, route.method.input, {
          inlineBytes: options.maxRequestBytes,
          store: options.store,
          tenant,
        });
        received = read.bytes;
        return read.body;
      };
      const build = route.batch
        ? async () => batchInput(route, await readJson())
        : async () => {
            const body = form ? await readForm() : await readJson();
            const input = restInput(route.method.input, { params, query, body, bodyField: route.body });
            if (streaming && typeof lastEventId === "string" && /^\d+$/.test(lastEventId)) {
              const field = route.method.input.fields.find((f) => f.name === "after_sequence");
              if (field) (input as Record<string, unknown>)[field.localName] = BigInt(lastEventId);
            }
            return input;
          };
      let answer: string | undefined;
      let answered: Record<string, unknown> | undefined;
      const method = route.batch ? jobMethod("submitJob") : route.method;
      const service = route.batch ? JobService : route.service;
      const fileOut = streaming && isFileStream(route.method.output);
      const run = async (input: unknown, context: HandlerContext): Promise<number> => {
        const called = implOf(method)(input, context);
        if (fileOut) return streamFile(called as AsyncIterable<Record<string, unknown>>, res, requestId);
        if (streaming) return streamEvents(route, called as AsyncIterable<unknown>, res, requestId);
        let out = (await called) as MessageShape<DescMessage> & { job?: Job };
        if (waitMs !== undefined && out.job) out = (await awaitJob(out.job, waitMs, context)) as typeof out;
        answered = out as Record<string, unknown>;
        answer = jsonOf(waitMs !== undefined && route.batch ? JobService.method.getJob.output : method.output, out);
        return Buffer.byteLength(answer);
      };
      const timeoutMs = streaming ? undefined : options.defaultTimeoutMs + (waitMs ?? 0);
      const call = new HandlerCall({
        service,
        method,
        protocol: "rest",
        header: headersOf(req),
        values,
        signal: gone.signal,
        input: build,
        run,
        timeoutMs,
        bytesIn: () => received,
      });
      const result = await options.policies(call);
      if (streaming) return;
      if (answer === undefined || answered === undefined) throw new ConnectError("no answer", Code.Internal);
      if (wantsFile(req.headers.accept) && !route.batch)
        return await answerFile({
          req,
          res,
          schema: method.output,
          answered,
          requestId,
          tenant: values.get(tenantKey),
        });
      sendJson(res, 200, answerFields(result.header), answer);
    } catch (thrown) {
      const err = withRequestId(toPublicError(thrown), requestId);
      if (err.code === Code.Internal || err.code === Code.Unknown)
        options.logger.warn({ err: thrown, requestId, route: route.template }, "REST call failed");
      discardRest(req);
      if (res.headersSent && !String(res.getHeader("content-type")).startsWith("text/event-stream")) {
        res.destroy(); // a file cut short: its length and checksum tell the client it is incomplete
        return;
      }
      if (res.headersSent || res.writableEnded) {
        if (!res.writableEnded) {
          (res as http.ServerResponse).write(
            `event: error\ndata: ${JSON.stringify(restError(err, requestId).body)}\n\n`,
          );
          res.end();
        }
        return;
      }
      writeRestError({ req, res, error: err, requestId });
    } finally {
      gone.release();
    }
  }

  /** A file stream (a description, then chunks) as the file itself; resolves to the bytes sent. */
  async function streamFile(stream: AsyncIterable<Record<string, unknown>>, res: Res, requestId: string) {
    let sent = 0;
    for await (const message of stream) {
      const part = message.part as { case: string; value: unknown };
      if (part.case === "chunk") {
        const chunk = part.value as Uint8Array;
        sent += chunk.length;
        await writeChunk(res, chunk);
        continue;
      }
      const blob = part.value as { size: bigint; sha256: string; contentType: string; filename: string };
      writeFileHead(res, { ...blob, size: Number(blob.size), requestId });
    }
    res.end();
    return sent;
  }

  /** An answer's one file, written as itself (bytes inline, or a blob of the tenant); 406 when the answer holds none or several. */
  async function answerFile({ req, res, schema, answered, requestId, tenant }: FileAnswer) {
    const files = filesOf(schema, answered);
    if (files.length !== 1) {
      const refusal = restRefusal(
        "NOT_ACCEPTABLE",
        `the answer holds ${files.length} files, not one: ask for JSON (Accept: application/json)${files.length > 1 ? " or for fewer pages" : ""}`,
        requestId,
      );
      return writeRestError({ req, res, error: refusal, requestId });
    }
    const [file] = files;
    if (file.data) {
      const contentType = file.contentType || sniffType(file.data);
      writeFileHead(res, { contentType, filename: "", size: file.data.length, requestId });
      res.end(file.data);
      return;
    }
    if (!options.store)
      throw new ConnectError("the answer is a blob and this gateway has no blob store", Code.Internal);
    const { info, body } = await options.store.open(tenant, file.blobId!);
    writeFileHead(res, { ...info, size: info.size, requestId });
    for await (const chunk of body) await writeChunk(res, chunk);
    res.end();
  }

  /** An upload's `ttl_seconds`, from the query or a form field: absent is 0 (the store's default). */
  function ttlOf(text: string | null): number {
    if (text === null) return 0;
    if (!/^\d{1,9}$/.test(text.trim())) throw invalidArgument("ttl_seconds", "must be a whole number of seconds");
    return Number(text);
  }

  /**
   * A file streamed in (BlobService/Upload over HTTP): the body is the file, or the first file of a
   * form (text fields before it describe it: filename, ttl_seconds); `?filename=`,
   * `?ttl_seconds=`, Content-Type and Content-Disposition describe a plain body.
   */
  async function serveUpload(route: RestRoute, req: Req, res: Res, query: URLSearchParams) {
    const requestId = req.headers["x-request-id"] as string;
    const gone = callerGone(res);
    try {
      const form = isMultipart(req.headers["content-type"]);
      const info = {
        filename: query.get("filename") ?? dispositionFilename(req.headers["content-disposition"] as string) ?? "",
        contentType: form ? "" : (req.headers["content-type"] ?? ""),
        ttlSeconds: ttlOf(query.get("ttl_seconds")),
      };
      let received = 0;
      const describe = () => create(UploadRequestSchema, { part: { case: "info", value: info } });
      const chunk = (value: Uint8Array) => create(UploadRequestSchema, { part: { case: "chunk", value } });
      async function* requests(): AsyncIterable<UploadRequest> {
        if (!form) {
          yield describe();
          for await (const data of req as AsyncIterable<Buffer>) {
            received += data.length;
            yield chunk(data);
          }
          return;
        }
        for await (const part of formParts(req)) {
          if (part.kind === "field") {
            if (part.name === "filename") info.filename = part.value;
            else if (part.name === "ttl_seconds") info.ttlSeconds = ttlOf(part.value);
            continue;
          }
          info.filename ||= part.filename;
          info.contentType ||= part.mimeType;
          yield describe();
          for await (const data of part.stream) {
            received += (data as Buffer).length;
            yield chunk(data as Buffer);
          }
          return; // one file a form; the rest of the body is read and dropped
        }
        throw invalidArgument("file", "the form holds no file part");
      }
      let answer = "";
      let location = "";
      const call = new HandlerCall({
        service: route.service,
        method: route.method,
        protocol: "rest",
        header: headersOf(req),
        signal: gone.signal,
        input: async () => describe(),
        run: async (_input, context) => {
          const out = (await implOf(route.method)(requests(), context)) as { blob?: { downloadPath: string } };
          location = out.blob?.downloadPath ?? "";
          answer = jsonOf(route.method.output, out);
          return Buffer.byteLength(answer);
        },
        timeoutMs: options.defaultTimeoutMs * 10,
        bytesIn: () => received,
      });
      const result = await options.policies(call);
      sendJson(res, 201, { ...answerFields(result.header), location }, answer);
    } catch (thrown) {
      const err = withRequestId(toPublicError(thrown), requestId);
      discardRest(req);
      writeRestError({ req, res, error: err, requestId });
    } finally {
      gone.release();
    }
  }

  /** A server stream as Server-Sent Events (`id` is the message's `sequence` where it has one); resolves to the bytes sent. */
  async function streamEvents(
    route: RestRoute,
    stream: AsyncIterable<unknown>,
    res: Res,
    requestId: string,
  ): Promise<number> {
    let sent = 0;
    const output = route.method.output;
    const sequence = output.fields.find((f) => f.name === "sequence");
    const oneof = output.oneofs.length === 1 ? output.oneofs[0] : undefined;
    let started = false;
    const heartbeat = setInterval(() => started && (res as http.ServerResponse).write(": keep-alive\n\n"), heartbeatMs);
    try {
      for await (const message of stream) {
        if (!started) {
          (res as http.ServerResponse).writeHead(200, {
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
            "x-request-id": requestId,
          });
          started = true;
        }
        const m = message as Record<string, unknown>;
        const id = sequence ? `id: ${String(m[sequence.localName])}\n` : "";
        const kind = oneof ? (m[oneof.localName] as { case?: string }).case : undefined;
        const event = `${id}event: ${kind ?? "message"}\ndata: ${jsonOf(output, message)}\n\n`;
        sent += Buffer.byteLength(event);
        (res as http.ServerResponse).write(event);
      }
      if (!started) (res as http.ServerResponse).writeHead(200, { "content-type": "text/event-stream" });
      res.end();
      return sent;
    } finally {
      clearInterval(heartbeat);
    }
  }

  function handle(req: Req, res: Res, path: string): boolean {
    if (!path.startsWith(restPrefix)) return false;
    const requestId = req.headers["x-request-id"] as string;
    const refuse = (error: RestAnswer, headers?: Record<string, string>) => {
      writeRestError({ req, res, error, requestId, headers });
      return true;
    };
    let found: ReturnType<RestRouter["match"]>;
    try {
      found = router.match(req.method ?? "GET", path);
    } catch {
      return refuse(restError(invalidArgument("path", "is not valid percent-encoded UTF-8"), requestId));
    }
    if (!found) return refuse(restRefusal("NOT_FOUND", `no route ${req.method} ${path}`, requestId));
    if ("allowed" in found)
      return refuse(
        restRefusal("METHOD_NOT_ALLOWED", `${path} answers ${found.allowed.join(", ")}, not ${req.method}`, requestId),
        { allow: found.allowed.join(", ") },
      );
    const rawQuery = req.url?.includes("?") ? req.url.slice(req.url.indexOf("?") + 1) : "";
    if (found.route.method.methodKind === "client_streaming" && isFileStream(found.route.method.input)) {
      if (!validQueryText(rawQuery))
        return refuse(restError(invalidArgument("query", "is not valid percent-encoded UTF-8"), requestId));
      void serveUpload(found.route, req, res, new URLSearchParams(rawQuery));
      return true;
    }
    const contentType = req.headers["content-type"];
    // A form's large files go to the blob store as they arrive: only its inline part is bounded here.
    const form = isMultipart(contentType) && options.store !== undefined;
    const length = Number(req.headers["content-length"] ?? 0);
    if (length > options.maxRequestBytes && !form)
      return refuse(
        restError(
          new ConnectError(
            `request body is ${length} bytes, over the ${options.maxRequestBytes}-byte limit`,
            Code.ResourceExhausted,
          ),
          requestId,
        ),
      );
    const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
    const readable = contentType && (jsonContentType.test(contentType) || isMultipart(contentType));
    if (hasBody && found.route.body !== "" && !readable)
      return refuse(
        restRefusal(
          "UNSUPPORTED_MEDIA_TYPE",
          `send the body as JSON with Content-Type: application/json, or as multipart/form-data (got ${contentType ? `"${contentType}"` : "none"})`,
          requestId,
        ),
      );
    // Counted before parsing: a query of 100,000 parameters is refused without building them.
    let count = rawQuery ? 1 : 0;
    for (let i = rawQuery.indexOf("&"); i >= 0 && count <= maxQueryParameters; i = rawQuery.indexOf("&", i + 1))
      count++;
    if (count > maxQueryParameters)
      return refuse(restError(invalidArgument("query", `has more than ${maxQueryParameters} parameters`), requestId));
    if (!validQueryText(rawQuery))
      return refuse(restError(invalidArgument("query", "is not valid percent-encoded UTF-8"), requestId));
    void serve(found.route, found.params, req, res, new URLSearchParams(rawQuery), hasBody);
    return true;
  }

  return { handle, router };
}

/** The same error with every field violation's field under `prefix` (`items[3].algorithm`). */
function prefixFields(err: ConnectError, prefix: string): ConnectError {
  const details = err.details.map((d) => {
    if (!("desc" in d) || d.desc.typeName !== "google.rpc.BadRequest") return d;
    const value = d.value as { fieldViolations?: { field: string }[] };
    return {
      ...d,
      value: {
        ...value,
        fieldViolations: (value.fieldViolations ?? []).map((v) => ({ ...v, field: `${prefix}.${v.field}` })),
      },
    };
  });
  return new ConnectError(`${prefix}: ${err.rawMessage}`, err.code, err.metadata, details as never, err.cause);
}
