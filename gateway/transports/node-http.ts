/**
 * What the gateway's transports share over Node's HTTP servers: the request and response types of
 * HTTP/1.1 and HTTP/2 alike, headers in and out, reading a body within a limit, noticing a caller
 * gone, and throwing away the unread rest of a request body whose response was already decided.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AnswerHeaders, RequestHeaders } from "../policies/policy.js";

/** A request, over HTTP/1.1 or HTTP/2. */
export type Req = http.IncomingMessage | http2.Http2ServerRequest;
/** A response, over HTTP/1.1 or HTTP/2. */
export type Res = http.ServerResponse | http2.Http2ServerResponse;

/** A whole HTTP answer. */
export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** Writes a complete response (the HTTP/1.1 and HTTP/2 compat APIs agree on this much). */
export function send(res: Res, { status, headers = {}, body }: HttpAnswer) {
  const length = body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) };
  (res as http.ServerResponse).writeHead(status, { ...headers, ...length });
  (res as http.ServerResponse).end(body);
}

/**
 * Writes a part of a streamed answer; when the connection's buffer is full, waits until it drains
 * or the caller goes away, so a reader that stops reading holds back the stream instead of the
 * gateway buffering it. Answers whether the caller is still there.
 */
export async function writePaced(res: Res, chunk: string | Uint8Array): Promise<boolean> {
  const r = res as http.ServerResponse;
  if (r.destroyed) return false;
  if (r.write(chunk)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      r.off("drain", done);
      r.off("close", done);
      resolve();
    };
    r.on("drain", done);
    r.on("close", done);
  });
  return !r.destroyed;
}

/** How much of a refused upload is read and thrown away before the connection is cut. */
const lingerBytes = 64 * 1024 * 1024;

/** Requests whose rest is being thrown away. */
export const discarding = new WeakSet<Req>();

/**
 * Reads and throws away what is left of a request body after its response was sent, so that
 * a client still uploading sees the answer instead of a broken pipe and the connection stays
 * usable; past `lingerBytes` or 10 s (a 2 GB upload, say) the connection is cut instead.
 */
export function discardRest(req: Req) {
  if (req.complete || req.destroyed || discarding.has(req)) return;
  discarding.add(req);
  let drained = 0;
  const cut = () => ("stream" in req ? req.stream.close() : req.socket.destroy());
  const timer = setTimeout(cut, 10_000);
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > lingerBytes) cut();
  });
  req.once("end", () => clearTimeout(timer));
  req.once("close", () => clearTimeout(timer));
  req.resume();
}

/** The one refusal of a body over the limit, whether its length was declared or counted as it came. */
export function bodyTooLarge(limit: number, length?: number): ConnectError {
  const size = length === undefined ? "over" : `${length} bytes, over`;
  return new ConnectError(`request body is ${size} the ${limit}-byte limit`, Code.ResourceExhausted);
}

/** A declared Content-Length over `limit`: refused before anything is read. */
export function declaredTooLarge(req: Req, limit: number): ConnectError | undefined {
  const length = Number(req.headers["content-length"] ?? 0);
  return length > limit ? bodyTooLarge(limit, length) : undefined;
}

/** The whole body, refused once it is over `limit` bytes plus `framing` (gRPC's 5-byte message prefix). */
export function readBody(req: Req, limit: number, framing: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Gone before anything asked for the body (while the policies ran): no event will come again.
    if (req.destroyed && !req.complete)
      return reject(new ConnectError("the client went away during the upload", Code.Canceled));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit + framing) {
        req.removeAllListeners("data");
        req.resume();
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    const gone = () => new ConnectError("the client went away during the upload", Code.Canceled);
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    // A client that goes away mid-body ("aborted", a reset stream): nothing more will come.
    req.once("error", (err) => reject(req.complete ? err : gone()));
    req.once("close", () => req.complete || reject(gone()));
  });
}

/** A request's headers as web Headers (repeated ones joined). */
export function headersOf(req: Req): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k[0] !== ":" && v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return h;
}

/** Web Headers as a plain record for node's writeHead. */
export function toNodeHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => {
    out[k] = v;
  });
  return out;
}

/** A JSON content type (charset UTF-8 at most). */
export const jsonContentType = /^application\/json(?:;\s*charset=utf-?8)?$/i;

/**
 * A signal aborted when the caller goes away (the response closes before it was finished);
 * release it once the answer is written.
 */
export function callerGone(res: Res): { signal: AbortSignal; release(): void } {
  const abort = new AbortController();
  const onClose = () => res.writableFinished || abort.abort(new ConnectError("client went away", Code.Canceled));
  res.once("close", onClose);
  return { signal: abort.signal, release: () => res.off("close", onClose) };
}

/** A request's headers as policies read them, straight from node's (lower-case) header object. */
export function requestHeaders(req: Req): RequestHeaders {
  const headers = req.headers;
  return {
    get(name) {
      const v = headers[name];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    },
  };
}

/** Answer headers gathered as a plain record, as writeHead takes them. */
export class HeaderRecord implements AnswerHeaders {
  readonly fields: Record<string, string> = {};

  set(name: string, value: string) {
    this.fields[name.toLowerCase()] = value;
  }
}

/** Answer headers (a HeaderRecord, or web Headers from connect) as a record for writeHead. */
export function answerFields(header: AnswerHeaders | Headers): Record<string, string> {
  return header instanceof HeaderRecord ? header.fields : toNodeHeaders(header as Headers);
}

/** Whether every `name=value` of a query string percent-decodes to valid UTF-8. */
export function validQueryText(query: string): boolean {
  try {
    for (const part of query.split("&")) decodeURIComponent(part.replace(/\+/g, " "));
    return true;
  } catch {
    return false;
  }
}
