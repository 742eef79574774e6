/** Server-streaming routes: each message a Server-Sent Event, a comment line keeping an idle stream open. */
import type * as http from "node:http";
import { type Res, writePaced } from "../node-http.js";
import { jsonOf } from "./json.js";
import type { RestRoute } from "./routes.js";

/** A comment line on an idle event stream this often keeps proxies from closing it. */
const heartbeatMs = 15_000;

/** A server stream as Server-Sent Events (`id` is the message's `sequence` where it has one); resolves to the bytes sent. */
export async function streamEvents(
  res: Res,
  stream: AsyncIterable<unknown>,
  about: { route: RestRoute; requestId: string },
): Promise<number> {
  const { route, requestId } = about;
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
      const event = `${id}event: ${kind ?? "message"}\ndata: ${jsonOf(output, message, requestId)}\n\n`;
      sent += Buffer.byteLength(event);
      if (!(await writePaced(res, event))) return sent; // the caller went away: the stream is cancelled
    }
    if (!started) (res as http.ServerResponse).writeHead(200, { "content-type": "text/event-stream" });
    res.end();
    return sent;
  } finally {
    clearInterval(heartbeat);
  }
}
