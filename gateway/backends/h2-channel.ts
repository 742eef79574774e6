/**
 * The gateway's unary calls to a capability service, made over node:http2 directly: one HTTP/2
 * session per backend address, round robin over the connected ones among the addresses the
 * target resolves to (again every `refreshMs`, and after a connection fails; the others connect
 * in the background), keepalive pings, deadlines, cancellation and a response size limit.
 * grpc-js's client does the same through more layers per call (resolving, load-balancing and
 * subchannel calls, filters, status objects); forwarded calls cost the gateway a quarter to a
 * third less CPU this way (bench/README.md). Streaming calls and health checks stay on the
 * grpc-js client.
 *
 * Targets: `host:port`, `dns:///host:port` (every address DNS returns, e.g. a headless Service),
 * `ipv4:a:port,b:port` and `ipv6:[a]:port,[b]:port` (fixed lists), as grpc-js reads them.
 */
import * as http2 from "node:http2";
import { lookup } from "node:dns/promises";
import { status } from "@grpc/grpc-js";
import { authorityOf, parseTarget } from "#runtime/ports.js";

/** How a call failed, in gRPC terms: the status code, its message and `grpc-status-details-bin` if the backend sent one. */
export interface GrpcFailure {
  code: status;
  details: string;
  statusDetails?: Buffer;
}

/** Options for createUnaryChannel. */
export interface UnaryChannelOptions {
  /** Largest response message, in bytes. */
  maxMessageBytes: number;
  /** How often DNS targets are resolved again; default 30 s. */
  refreshMs?: number;
  /** Interval of keepalive pings on an idle-or-busy session; default 30 s. A ping unanswered for 10 s closes the session. */
  keepaliveMs?: number;
  /** Resolver for DNS targets (tests); default every address `dns.lookup` returns. */
  resolve?: (host: string) => Promise<string[]>;
}

/** One unary call: the method's path, the serialized message, metadata, deadline and cancellation. */
export interface UnaryRequest {
  path: string;
  message: Buffer;
  /** Sent as gRPC metadata. */
  headers: http2.OutgoingHttpHeaders;
  /** Epoch milliseconds. */
  deadline: number;
  signal: AbortSignal;
}

/** Unary calls to one backend target. */
export interface UnaryChannel {
  /** Makes the call; answers the response message, or rejects with a GrpcFailure. */
  call(request: UnaryRequest): Promise<Buffer>;
  /** Closes every session; calls in flight finish or fail. */
  close(): void;
}

interface Endpoint {
  authority: string;
  session?: http2.ClientHttp2Session;
  /** No new session before this time (after a failed connection). */
  retryAt: number;
  backoffMs: number;
}

const initialBackoffMs = 250;
const maxBackoffMs = 5_000;
const pingTimeoutMs = 10_000;

const endpoint = (authority: string): Endpoint => ({ authority, retryAt: 0, backoffMs: initialBackoffMs });

const defaultResolve = async (host: string) => (await lookup(host, { all: true })).map((a) => a.address);

/** What an RST_STREAM code means to the caller (as grpc-js maps them). */
function rstFailure(code: number): GrpcFailure {
  const c = http2.constants;
  switch (code) {
    case c.NGHTTP2_REFUSED_STREAM:
      return { code: status.UNAVAILABLE, details: "the backend refused the stream" };
    case c.NGHTTP2_CANCEL:
      return { code: status.CANCELLED, details: "the backend cancelled the call" };
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return { code: status.RESOURCE_EXHAUSTED, details: "the backend asked to slow down" };
    default:
      return { code: status.INTERNAL, details: `the backend reset the stream (HTTP/2 error ${code})` };
  }
}

/** gRPC's mapping of an HTTP status that came without a grpc-status. */
function httpFailure(httpStatus: number): GrpcFailure {
  const code =
    httpStatus === 400
      ? status.INTERNAL
      : httpStatus === 401
        ? status.UNAUTHENTICATED
        : httpStatus === 403
          ? status.PERMISSION_DENIED
          : httpStatus === 404
            ? status.UNIMPLEMENTED
            : [429, 502, 503, 504].includes(httpStatus)
              ? status.UNAVAILABLE
              : status.UNKNOWN;
  return { code, details: `the backend answered HTTP ${httpStatus}` };
}

function decodeMessage(raw: string | string[] | undefined): string {
  const s = Array.isArray(raw) ? raw.join(", ") : (raw ?? "");
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Status (and details) from trailers, or from the headers of a trailers-only response. */
function statusOf(h: http2.IncomingHttpHeaders): GrpcFailure | undefined {
  const raw = h["grpc-status"];
  if (raw === undefined) return undefined;
  const code = Number(raw);
  const bin = h["grpc-status-details-bin"];
  return {
    code: Number.isInteger(code) && code >= 0 && code <= 16 ? code : status.UNKNOWN,
    details: decodeMessage(h["grpc-message"]),
    statusDetails: typeof bin === "string" ? Buffer.from(bin, "base64") : undefined,
  };
}

/** Creates the channel; nothing connects before the first call. */
export function createUnaryChannel(target: string, options: UnaryChannelOptions): UnaryChannel {
  const parsed = parseTarget(target);
  const resolve = options.resolve ?? defaultResolve;
  const refreshMs = options.refreshMs ?? 30_000;
  const keepaliveMs = options.keepaliveMs ?? 30_000;
  const maxFrame = options.maxMessageBytes + 5;
  let endpoints: Endpoint[] = "fixed" in parsed ? parsed.fixed.map(endpoint) : [];
  let resolvedAt = -Infinity;
  let stale = false;
  let resolving: Promise<void> | undefined;
  let resolveError: Error | undefined;
  let next = 0;
  let closed = false;
  /** Sessions whose connection is up (a call on one of these may have reached the server). */
  const ready = new WeakSet<http2.ClientHttp2Session>();

  /** Resolves a DNS target when due: every refreshMs, or after a connection failed, at most once a second. */
  function refresh(): Promise<void> | undefined {
    if ("fixed" in parsed) return undefined;
    const age = Date.now() - resolvedAt;
    if (resolving || age < 1000 || (age < refreshMs && !stale)) return resolving;
    stale = false;
    resolving = resolve(parsed.host)
      .then(
        (hosts) => {
          resolveError = undefined;
          if (hosts.length === 0) return;
          const old = new Map(endpoints.map((e) => [e.authority, e]));
          endpoints = [...new Set(hosts.map((h) => authorityOf(h, parsed.port)))].map((a) => old.get(a) ?? endpoint(a));
          for (const e of old.values()) if (!endpoints.includes(e)) e.session?.close();
        },
        (err: Error) => {
          resolveError = err;
        },
      )
      .finally(() => {
        resolvedAt = Date.now();
        resolving = undefined;
      });
    return resolving;
  }

  function failed(e: Endpoint) {
    e.retryAt = Date.now() + e.backoffMs;
    e.backoffMs = Math.min(e.backoffMs * 2, maxBackoffMs);
    stale = true;
    void refresh();
  }

  function connect(e: Endpoint): http2.ClientHttp2Session {
    const session = http2.connect(`http://${e.authority}`, { settings: { enablePush: false } });
    e.session = session;
    let ping: ReturnType<typeof setInterval> | undefined;
    const drop = () => {
      if (e.session === session) e.session = undefined;
      clearInterval(ping);
    };
    session.once("connect", () => {
      ready.add(session);
      e.backoffMs = initialBackoffMs;
      ping = setInterval(() => {
        const timer = setTimeout(() => session.destroy(), pingTimeoutMs).unref();
        session.ping((err) => {
          clearTimeout(timer);
          if (err) session.destroy();
        });
      }, keepaliveMs).unref();
    });
    session.on("error", () => {
      if (!ready.has(session)) failed(e);
      drop();
    });
    session.once("goaway", drop); // streams in flight finish; new calls open a new session
    session.once("close", drop);
    return session;
  }

  /**
   * The next endpoint's session, round robin over connected ones. Every endpoint without a
   * session (and not in backoff) starts connecting on the way; a connecting session is used only
   * when no connected one exists, so a new or restarted replica joins once it is up.
   */
  function pick(): http2.ClientHttp2Session | undefined {
    const now = Date.now();
    const first = next++;
    let chosen: http2.ClientHttp2Session | undefined;
    let connecting: http2.ClientHttp2Session | undefined;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[(first + i) % endpoints.length];
      const session =
        e.session && !e.session.closed && !e.session.destroyed ? e.session : e.retryAt <= now ? connect(e) : undefined;
      if (session && ready.has(session)) chosen ??= session;
      else connecting ??= session;
    }
    return chosen ?? connecting;
  }

  /** Starts `request` on a session, settling through `settleCall`; retried when nothing was sent. */
  function start(
    request: UnaryRequest,
    settleCall: { resolve: (b: Buffer) => void; reject: (f: GrpcFailure) => void },
    retries = 0,
  ) {
    const { path, message, headers, deadline, signal } = request;
    const { resolve: resolveCall, reject: rejectCall } = settleCall;
    const remaining = deadline - Date.now();
    if (remaining <= 0) return rejectCall({ code: status.DEADLINE_EXCEEDED, details: "deadline exceeded" });
    let stream: http2.ClientHttp2Stream | undefined;
    let used: http2.ClientHttp2Session | undefined;
    // A session can turn out to be closing only when a stream is opened on it; nothing was sent then, so another is tried.
    for (let attempt = 0; attempt < 2 && !stream; attempt++) {
      const session = pick();
      used = session;
      if (!session) break;
      try {
        stream = session.request({
          ...headers,
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": `${Math.ceil(remaining)}m`,
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (
          code !== "ERR_HTTP2_INVALID_SESSION" &&
          code !== "ERR_HTTP2_GOAWAY_SESSION" &&
          code !== "ERR_HTTP2_OUT_OF_STREAMS"
        ) {
          return rejectCall({ code: status.INTERNAL, details: `cannot send the call: ${(err as Error).message}` });
        }
        session.close();
      }
    }
    if (!stream) {
      return rejectCall({
        code: status.UNAVAILABLE,
        details: resolveError ? `cannot resolve ${target}: ${resolveError.message}` : `no connection to ${target}`,
      });
    }
    const s = stream;
    const chunks: Buffer[] = [];
    let size = 0;
    let httpStatus = 0;
    let outcome: GrpcFailure | undefined;
    let streamError: NodeJS.ErrnoException | undefined;
    let settled = false;
    /** Ends this attempt: no more timer or abort listener for it. */
    const release = () => {
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    const settle = (failure: GrpcFailure | undefined, body?: Buffer) => {
      if (settled) return;
      release();
      if (failure) rejectCall(failure);
      else resolveCall(body!);
    };
    const stop = (failure: GrpcFailure) => {
      settle(failure);
      s.close(http2.constants.NGHTTP2_CANCEL);
    };
    const timer = setTimeout(() => stop({ code: status.DEADLINE_EXCEEDED, details: "deadline exceeded" }), remaining);
    const onAbort = () => stop({ code: status.CANCELLED, details: "cancelled by the caller" });
    signal.addEventListener("abort", onAbort, { once: true });

    s.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      outcome = statusOf(h); // trailers-only
    });
    s.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxFrame)
        return stop({
          code: status.RESOURCE_EXHAUSTED,
          details: `the response is over the ${options.maxMessageBytes}-byte limit`,
        });
      chunks.push(chunk);
    });
    s.on("trailers", (h) => (outcome = statusOf(h)));
    s.on("error", (err) => (streamError = err)); // the outcome is read at close
    s.on("close", () => {
      if (settled) return;
      if (outcome === undefined && httpStatus === 0 && !ready.has(used!) && retries < endpoints.length) {
        // The connection never came up, so nothing reached any server: try the next address.
        release();
        return start(request, settleCall, retries + 1);
      }
      if (outcome === undefined) {
        if (httpStatus !== 0 && httpStatus !== 200) return settle(httpFailure(httpStatus));
        // The backend reset this stream, or the connection under it went away.
        if (streamError?.code === "ERR_HTTP2_STREAM_ERROR") return settle(rstFailure(s.rstCode ?? 0));
        return settle({ code: status.UNAVAILABLE, details: `the connection to ${target} was lost` });
      }
      if (outcome.code !== status.OK) return settle(outcome);
      const answer = unframe(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      if (!answer)
        return settle({ code: status.UNIMPLEMENTED, details: "the backend sent no single response message" });
      if (answer.compressed)
        return settle({
          code: status.INTERNAL,
          details: "the backend sent a compressed message, which was not asked for",
        });
      settle(undefined, answer.message);
    });
    s.end(frame(message));
  }

  return {
    call(request) {
      return new Promise((resolve, reject) => {
        if (closed) return reject({ code: status.UNAVAILABLE, details: "the gateway is shutting down" });
        if (request.signal.aborted) return reject({ code: status.CANCELLED, details: "cancelled by the caller" });
        const pending = refresh();
        if (pending && endpoints.length === 0) void pending.then(() => start(request, { resolve, reject }));
        else start(request, { resolve, reject });
      });
    },
    close() {
      closed = true;
      for (const e of endpoints) e.session?.close();
    },
  };
}

/** One message with gRPC's 5-byte prefix (flags, default uncompressed; big-endian length). */
export function frame(message: Buffer, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(message.length + 5);
  out[0] = flags;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** One message in gRPC's framing, and whether its compressed flag is set. */
export interface Envelope {
  message: Buffer;
  compressed: boolean;
}

/**
 * The one message of a unary body in gRPC's framing; undefined when the body is not exactly one
 * message, or is flagged as anything but a (possibly compressed) message.
 */
export function unframe(body: Buffer): Envelope | undefined {
  if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5 || (body[0] & ~1) !== 0) return undefined;
  return { message: body.subarray(5), compressed: body[0] === 1 };
}
