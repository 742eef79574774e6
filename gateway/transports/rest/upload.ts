/** `POST /api/v1/blobs`: a file streamed in as BlobService/Upload, its body the file or a form's first file. */
import { create } from "@bufbuild/protobuf";
import { type UploadRequest, UploadRequestSchema } from "#gen/flowforge/blob/v1/blob_pb.js";
import { invalidArgument, toPublicError, withRequestId } from "#runtime/errors.js";
import { HandlerCall } from "../handler-call.js";
import { type Req, type Res, answerFields, callerGone, discardRest, headersOf } from "../node-http.js";
import type { RestContext } from "./context.js";
import { writeRestError } from "./envelope.js";
import { dispositionFilename, formParts, isMultipart } from "./files.js";
import { jsonOf, sendJson } from "./json.js";
import type { RestRoute } from "./routes.js";

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
export async function serveUpload(
  rest: RestContext,
  call: { route: RestRoute; req: Req; res: Res; query: URLSearchParams },
) {
  const { route, req, res, query } = call;
  const { options, implOf } = rest;
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
    const handlerCall = new HandlerCall({
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
    const result = await options.policies(handlerCall);
    sendJson(res, { status: 201, headers: { ...answerFields(result.header), location }, body: answer });
  } catch (thrown) {
    const err = withRequestId(toPublicError(thrown), requestId);
    discardRest(req);
    writeRestError({ req, res, error: err, requestId });
  } finally {
    gone.release();
  }
}
