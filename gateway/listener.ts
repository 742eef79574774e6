/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2: each connection's first bytes are compared
 * with the HTTP/2 preface and the socket is handed to the matching server. Both servers share
 * one request handler.
 */
import * as net from "node:net";
import * as http from "node:http";
import * as http2 from "node:http2";

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** A node request handler that serves HTTP/1.1 and HTTP/2 compat requests alike. */
export type UniversalHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** The listening servers. */
export interface DualServer {
  net: net.Server;
  http1: http.Server;
  http2: http2.Http2Server;
  /** Stops accepting, lets open requests finish for up to `graceMs`, then closes the rest. */
  close(graceMs?: number): Promise<void>;
}

/** Creates a server that serves HTTP/1.1 and h2c (prior knowledge) on the same port. */
export function createDualServer(handler: UniversalHandler): DualServer {
  const http1 = http.createServer({ keepAliveTimeout: 65_000, headersTimeout: 30_000, requestTimeout: 0 }, handler as http.RequestListener);
  // The HTTP/1.1 server never listens itself; 'listening' starts its connection tracking,
  // which header/request timeouts and closeIdleConnections() depend on.
  http1.emit("listening");
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const sockets = new Set<net.Socket>();

  // No Nagle: streamed messages (WatchJob events) must leave as soon as they are written.
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let seen = Buffer.alloc(0);
    const sniff = () => {
      const chunk: Buffer | null = socket.read();
      if (chunk) seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, preface.length);
      const isPrefix = seen.subarray(0, n).equals(preface.subarray(0, n));
      if (isPrefix && seen.length < preface.length) {
        socket.once("readable", sniff); // wait for the rest of the preface
        return;
      }
      socket.unshift(seen);
      (isPrefix ? h2 : http1).emit("connection", socket);
    };
    socket.once("readable", sniff);
  });

  return {
    net: server,
    http1,
    http2: h2,
    async close(graceMs = 5000) {
      server.close();
      http1.close();
      for (const s of sessions) s.close();
      const deadline = Date.now() + graceMs;
      while (sockets.size > 0 && Date.now() < deadline) {
        http1.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const s of sockets) s.destroy();
    },
  };
}
