/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2: each connection's first bytes are compared
 * with the HTTP/2 preface and the socket is handed to the matching server. Both servers share
 * one request handler.
 *
 * Connections cost a file descriptor each, so the ones doing nothing are bounded: a connection
 * that has not sent its first request within `firstRequestTimeoutMs` is closed, and connections
 * with no request in flight (new ones included) are capped at `maxIdleConnections`, the oldest
 * idle one closed to make room. Busy connections are never cut for it.
 */
import { randomUUID } from "node:crypto";
import * as net from "node:net";
import * as http from "node:http";
import * as http2 from "node:http2";
import { rawRestAnswer, restRefusal } from "./rest/envelope.js";

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

/** Options for createDualServer. */
export interface DualServerOptions {
  /** A connection that has not sent a complete first request by then is closed. @default 5000 */
  firstRequestTimeoutMs?: number;
  /** Connections with no request in flight kept at most; the oldest goes first. @default 10000 */
  maxIdleConnections?: number;
  /** An HTTP/2 connection with no stream open this long is closed (HTTP/1.1 keep-alive too). @default 65000 */
  idleTimeoutMs?: number;
  /** Connections at once; more are closed as they arrive, so descriptors never run out. @default unlimited */
  maxConnections?: number;
}

/**
 * Connection caps that fit a descriptor limit: all connections at most the limit less a reserve
 * for backends, the database and files; idle ones at most half of that (and 10,000).
 */
export function connectionCaps(fdLimit: number | undefined): { maxConnections?: number; maxIdleConnections: number } {
  if (fdLimit === undefined) return { maxIdleConnections: 10_000 };
  const maxConnections = Math.max(64, fdLimit - 512);
  return { maxConnections, maxIdleConnections: Math.min(10_000, Math.floor(maxConnections / 2)) };
}

/** One accepted connection and what it is doing. */
interface Connection {
  socket: net.Socket;
  /** Requests (HTTP/1.1) or streams (HTTP/2) in flight. */
  active: number;
  firstRequest?: ReturnType<typeof setTimeout>;
  session?: http2.ServerHttp2Session;
}

/** Creates a server that serves HTTP/1.1 and h2c (prior knowledge) on the same port. */
export function createDualServer(handler: UniversalHandler, options: DualServerOptions = {}): DualServer {
  const firstRequestTimeoutMs = options.firstRequestTimeoutMs ?? 5000;
  const maxIdle = Math.max(1, options.maxIdleConnections ?? 10_000);
  const idleTimeoutMs = options.idleTimeoutMs ?? 65_000;
  const http1 = http.createServer(
    { keepAliveTimeout: idleTimeoutMs, headersTimeout: 30_000, requestTimeout: 0 },
    handler as http.RequestListener,
  );
  // A request line or headers over Node's 16 KB (a query of 100,000 parameters, say) never reach
  // the handler: they are answered here, in the REST error envelope, and the connection closed.
  http1.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (!socket.writable || err.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    if (err.code !== "HPE_HEADER_OVERFLOW") {
      // What Node answers without a listener.
      socket.end(
        `HTTP/1.1 ${err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request"}\r\nconnection: close\r\n\r\n`,
      );
      return;
    }
    const refusal = restRefusal(
      "REQUEST_HEADER_FIELDS_TOO_LARGE",
      "the request line and headers are over 16 KB; send large inputs in a JSON body",
      randomUUID(),
    );
    socket.end(rawRestAnswer(refusal, "Request Header Fields Too Large"));
  });
  // The HTTP/1.1 server never listens itself; 'listening' starts its connection tracking,
  // which header/request timeouts and closeIdleConnections() depend on.
  http1.emit("listening");
  const h2 = http2.createServer(
    { settings: { maxConcurrentStreams: 1000 } },
    handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  const connections = new Map<net.Socket, Connection>();
  // Connections with nothing in flight, oldest first (a Set keeps insertion order).
  const idle = new Set<Connection>();

  const close = (c: Connection) => {
    if (c.session && !c.session.destroyed) c.session.destroy();
    c.socket.destroy();
  };
  const becameIdle = (c: Connection) => {
    idle.delete(c);
    idle.add(c);
    if (idle.size > maxIdle) close(idle.values().next().value!);
  };
  const started = (c: Connection | undefined) => {
    if (!c) return;
    clearTimeout(c.firstRequest);
    c.firstRequest = undefined;
    c.active++;
    idle.delete(c);
  };
  const ended = (c: Connection) => {
    c.active--;
    if (c.active === 0 && !c.socket.destroyed) becameIdle(c);
  };

  http1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const c = connections.get(req.socket);
    started(c);
    if (c) res.once("close", () => ended(c));
  });
  // The session is made while the connection is handed over, so `handingOver` names its socket.
  let handingOver: Connection | undefined;
  h2.on("session", (s) => {
    const c = handingOver;
    if (!c) return;
    c.session = s;
    s.on("stream", (stream: http2.ServerHttp2Stream) => {
      started(c);
      stream.once("close", () => ended(c));
    });
    s.setTimeout(idleTimeoutMs, () => {
      if (c.active === 0) s.close();
    });
  });

  // No Nagle: streamed messages (WatchJob events) must leave as soon as they are written.
  const server = net.createServer({ noDelay: true }, (socket) => {
    const c: Connection = { socket, active: 0 };
    connections.set(socket, c);
    c.firstRequest = setTimeout(() => close(c), firstRequestTimeoutMs);
    c.firstRequest.unref();
    becameIdle(c);
    socket.on("close", () => {
      connections.delete(socket);
      idle.delete(c);
      clearTimeout(c.firstRequest);
    });
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
      handingOver = c;
      (isPrefix ? h2 : http1).emit("connection", socket);
      handingOver = undefined;
    };
    socket.once("readable", sniff);
  });

  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;

  return {
    net: server,
    http1,
    http2: h2,
    async close(graceMs = 5000) {
      server.close();
      http1.close();
      for (const c of connections.values()) c.session?.close();
      const deadline = Date.now() + graceMs;
      while (connections.size > 0 && Date.now() < deadline) {
        http1.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const socket of connections.keys()) socket.destroy();
    },
  };
}
