/**
 * What the gateway's transports share over Node's HTTP servers: the request and response types of
 * HTTP/1.1 and HTTP/2 alike, and throwing away the unread rest of a request body whose response
 * was already decided.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";

/** A request, over HTTP/1.1 or HTTP/2. */
export type Req = http.IncomingMessage | http2.Http2ServerRequest;
/** A response, over HTTP/1.1 or HTTP/2. */
export type Res = http.ServerResponse | http2.Http2ServerResponse;

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
