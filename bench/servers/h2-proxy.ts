/**
 * The floor of a hop in Node: a bare node:http2 server (the stream API, no compat layer) that
 * forwards every gRPC call's one message to `BACKEND` over the gateway's own unary channel
 * (gateway/backends/h2-channel.ts) and answers it. No policies, no checks: what any Node
 * gateway pays before doing anything of its own.
 */
import { setMaxListeners } from "node:events";
import * as http2 from "node:http2";
import type { Socket } from "node:net";
import { createUnaryChannel, frame } from "../../gateway/backends/h2-channel.js";
import { reportReady } from "#runtime/lifecycle.js";

const channel = createUnaryChannel(process.env.BACKEND ?? "", { maxMessageBytes: 4 * 1024 * 1024 });
const never = new AbortController().signal;
setMaxListeners(0, never); // every call in flight listens to it
const server = http2.createServer();
// No Nagle, as the gateway's listener: an answer's frames leave as soon as they are written.
server.on("connection", (socket: Socket) => socket.setNoDelay(true));
server.on("stream", (stream: http2.ServerHttp2Stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    channel
      .call({
        path: headers[":path"] ?? "",
        message: Buffer.concat(chunks).subarray(5),
        headers: {},
        deadline: Date.now() + 10_000,
        signal: never,
      })
      .then(
        (answer) => {
          if (stream.destroyed) return; // the caller went away (h2load resets what is in flight when it stops)
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(frame(answer));
        },
        (failure: { code: number; details: string }) =>
          stream.destroyed ||
          stream.respond(
            { ":status": 200, "content-type": "application/grpc", "grpc-status": String(failure.code) },
            { endStream: true },
          ),
      );
  });
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () =>
  reportReady("h2-proxy", (server.address() as { port: number }).port),
);
