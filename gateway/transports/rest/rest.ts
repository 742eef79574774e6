/**
 * The REST transport: `/api/v1/...` routes from the contracts' `google.api.http` rules, served by
 * the same service implementations (forwarded or local) and the same policy chain as every other
 * protocol. Friendly JSON in (enum values without their prefix, batches without `@type`), every
 * field out (zero values included), the REST error envelope on failure. Server-streaming
 * methods answer as Server-Sent Events; `?wait=` long-polls a job (GetJob, and `:batch`).
 */
import type * as http from "node:http";
import type { DescField, DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { JobService, type Job } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { invalidArgument, toPublicError, withRequestId } from "#runtime/errors.js";
import { HandlerCall } from "../handler-call.js";
import { awaitJob, batchInput, failedBatch, type JobMethods, parseWait } from "./batch.js";
import type { Impl, RestContext, RestOptions } from "./context.js";
import { streamEvents } from "./events.js";
import { answerFile, streamFile } from "./file-answers.js";
import { jsonOf, sendJson } from "./json.js";
import { serveUpload } from "./upload.js";
import { gatewayJsonOptions } from "../json-options.js";
import { type RestAnswer, restError, restRefusal, writeRestError } from "./envelope.js";
import { maxQueryParameters, restInput } from "./request.js";
import { type RestRoute, RestRouter, restRoutes } from "./routes.js";
import { bodyFileField, isFileStream, waitableMethod } from "./templates.js";
import { formInput, isMultipart, rawFileInput, wantsFile } from "./files.js";
import { tenantKey } from "#runtime/context.js";
import {
  type Req,
  type Res,
  answerFields,
  callerGone,
  declaredTooLarge,
  discardRest,
  headersOf,
  jsonContentType,
  readBody,
  validQueryText,
} from "../node-http.js";

export type { RestOptions } from "./context.js";
export { maxWaitMs } from "./batch.js";

/** The REST prefix every route lives under. */
export const restPrefix = "/api/v1/";

/** One matched route's call. */
interface RouteCall {
  route: RestRoute;
  /** The path's parameters. */
  params: Record<string, string>;
  req: Req;
  res: Res;
  /** The query, `wait` taken out once read. */
  query: URLSearchParams;
  hasBody: boolean;
  /** The field the body fills when the body is the file itself. */
  fileBody?: DescField;
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
  const rest: RestContext = { options, implOf };
  const jobs: JobMethods = {
    getJob: (request, context) => implOf(jobMethod("getJob"))(request, context),
    watchJob: (request, context) => implOf(jobMethod("watchJob"))(request, context),
  };

  /** A unary, server-streaming or `:batch` route's call. */
  async function serve({ route, params, req, res, query, hasBody, fileBody }: RouteCall) {
    const requestId = req.headers["x-request-id"] as string;
    const gone = callerGone(res);
    try {
      const waitText = query.get("wait");
      query.delete("wait");
      // `?answer=file` (or `json`) says how to answer, for tools that do not set Accept.
      const answerAs = query.get("answer");
      query.delete("answer");
      if (answerAs !== null && answerAs !== "file" && answerAs !== "json")
        throw invalidArgument("answer", `must be file or json, not "${answerAs.slice(0, 40)}"`);
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
      // A body that is the file itself: neither JSON nor a form, on a route with one file field.
      const fileField = hasBody ? fileBody : undefined;
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
        ? async () => batchInput(route, await readJson(), params)
        : async () => {
            let body: unknown;
            if (fileField) {
              const read = await rawFileInput(req, fileField, {
                inlineBytes: options.maxRequestBytes,
                store: options.store,
                tenant: values.get(tenantKey),
              });
              received = read.bytes;
              body = read.body;
            } else body = form ? await readForm() : await readJson();
            const input = restInput(route.method.input, {
              params,
              query,
              body,
              bodyField: route.body,
              fileBody: fileField !== undefined,
            });
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
        if (fileOut) return streamFile(res, called as AsyncIterable<Record<string, unknown>>, requestId);
        if (streaming) return streamEvents(res, called as AsyncIterable<unknown>, { route, requestId });
        let out = (await called) as MessageShape<DescMessage> & { job?: Job };
        if (waitMs !== undefined && out.job)
          out = (await awaitJob(jobs, out.job, { ms: waitMs, context })) as typeof out;
        answered = out as Record<string, unknown>;
        answer = jsonOf(
          waitMs !== undefined && route.batch ? JobService.method.getJob.output : method.output,
          out,
          requestId,
        );
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
      const asFile = answerAs === null ? wantsFile(req.headers.accept) : answerAs === "file";
      if (asFile && !route.batch)
        return await answerFile({
          req,
          res,
          schema: method.output,
          answered,
          name: method.name.replace(/(?<=[a-z0-9])([A-Z])/g, "-$1").toLowerCase(),
          requestId,
          tenant: values.get(tenantKey),
          store: options.store,
        });
      // A batch waited for that failed whole is an error; asked for its state (GetJob), a job is 200.
      const failed = route.batch && waitMs !== undefined ? failedBatch(answer) : undefined;
      sendJson(res, {
        status: failed?.status ?? 200,
        headers: answerFields(result.header),
        body: failed?.body ?? answer,
      });
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
      void serveUpload(rest, { route: found.route, req, res, query: new URLSearchParams(rawQuery) });
      return true;
    }
    const contentType = req.headers["content-type"];
    const readable = contentType && (jsonContentType.test(contentType) || isMultipart(contentType));
    // A body that is the file itself names what it is (`application/pdf`, `text/csv`); a URL-encoded
    // form or a body of no declared type is not taken for one.
    const namesFile = !!contentType && !readable && !/^application\/x-www-form-urlencoded\b/i.test(contentType);
    const fileField =
      found.route.body === "*" && !found.route.batch ? bodyFileField(found.route.method.input) : undefined;
    const fileBody = namesFile ? fileField : undefined;
    // A form's large files, and a body that is a document or image, go to the blob store as they
    // arrive: only what stays inline is bounded here.
    const spills = options.store !== undefined && (isMultipart(contentType) || fileBody?.message !== undefined);
    const tooLarge = spills ? undefined : declaredTooLarge(req, options.maxRequestBytes);
    if (tooLarge) return refuse(restError(tooLarge, requestId));
    const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
    if (hasBody && found.route.body !== "" && !readable && !fileBody)
      return refuse(
        restRefusal(
          "UNSUPPORTED_MEDIA_TYPE",
          `send the body as JSON with Content-Type: application/json, or as multipart/form-data${fileField ? `, or the ${fileField.name} file itself with its own Content-Type` : ""} (got ${contentType ? `"${contentType}"` : "none"})`,
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
    void serve({
      route: found.route,
      params: found.params,
      req,
      res,
      query: new URLSearchParams(rawQuery),
      hasBody,
      fileBody,
    });
    return true;
  }

  return { handle, router };
}
