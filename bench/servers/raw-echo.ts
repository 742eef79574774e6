/** The ceiling: a raw node:http2 server that echoes the request body. */
import * as http2 from "node:http2";
import { reportReady } from "#runtime/lifecycle.js";

const server = http2.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    res.end(Buffer.concat(chunks));
  });
});
server.listen(0, "127.0.0.1", () => reportReady("raw-echo", (server.address() as { port: number }).port));
