/**
 * A unary call on the wire, in every protocol the gateway speaks: Connect (POST in JSON or
 * protobuf, GET with the message in the query), gRPC over HTTP/2 and gRPC-Web over either HTTP
 * version, each in protobuf or JSON, compressed or not. What a call's headers say about how its
 * one message is framed, encoded and compressed; reading that message (bounded before and after
 * inflating) as the method's input in protobuf binary; and writing the answer the same way.
 * Errors are written by rpc-errors.ts.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { promisify } from "node:util";
import { brotliCompress, constants as zlibConstants, gzip } from "node:zlib";
import { type DescMethod, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { type Compression, compressionNegotiate } from "@connectrpc/connect/protocol";
import { contentTypeUnaryRegExp, parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import {
  parseContentType as parseGrpcContentType,
  parseTimeout as parseGrpcTimeout,
} from "@connectrpc/connect/protocol-grpc";
import {
  parseContentType as parseGrpcWebContentType,
  setTrailerStatus,
  trailerFlag,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import { invalidArgument } from "#runtime/errors.js";
import { frame, unframe } from "../../backends/h2-channel.js";
import { jsonToBinary } from "../json-input.js";
import { gatewayJsonOptions, toJsonText } from "../json-options.js";
import { type Req, type Res, readBody, validQueryText } from "../node-http.js";

/** The RPC protocols of a unary call. */
export type RpcProtocol = "connect" | "grpc" | "grpc-web";

/** How one unary call travels. */
export interface Wire {
  protocol: RpcProtocol;
  /** Protobuf binary; else JSON. */
  binary: boolean;
  /** The request's compression (Connect: the whole body; gRPC and gRPC-Web: its flagged message). */
  requestCompression: Compression | null;
  /** How the answer is compressed, as the caller accepts (answers under 1 KiB never are). */
  responseEncoding: "gzip" | "br" | undefined;
  /** Connect GET: the query that holds the message. */
  query?: URLSearchParams;
  /** The caller's deadline in milliseconds, if it sent one. */
  timeoutMs?: number;
  /** What makes the call unanswerable as it came (an unknown compression, a malformed timeout). */
  error?: ConnectError;
}

/** The compressions a caller may use, as connect-node accepts them. */
const accepted = [compressionGzip, compressionBrotli];

/** Answers of at least this size are compressed when the caller accepts it (connect-node's default). */
const compressMinBytes = 1024;
// Brotli at quality 4: its default (11) took 600 ms for a 280 KB answer (gzip: 10 ms), a CPU
// cost any caller could ask for by listing br first.
const brotli = promisify(brotliCompress);
const compressors = {
  gzip: promisify(gzip),
  br: (data: Uint8Array) => brotli(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } }),
};

const header = (req: Req, name: string) => (req.headers[name] as string | undefined) ?? null;

/** The query string of a request (without the `?`). */
const queryOf = (req: Req) => {
  const url = req.url ?? "";
  const at = url.indexOf("?");
  return at < 0 ? "" : url.slice(at + 1);
};

/**
 * How `req` carries a unary call, or undefined when it is not one the gateway can read (a
 * stream's content type, gRPC over HTTP/1.1, gRPC-Web text, an unknown type): connect-node
 * answers those.
 */
export function wireOf(req: Req): Wire | undefined {
  const contentType = header(req, "content-type") ?? "";
  let protocol: RpcProtocol;
  let binary: boolean;
  let query: URLSearchParams | undefined;
  if (req.method === "GET") {
    const text = queryOf(req);
    query = new URLSearchParams(text);
    const encoding = query.get("encoding");
    if (encoding !== "json" && encoding !== "proto") return undefined;
    protocol = "connect";
    binary = encoding === "proto";
    if (!validQueryText(text))
      return {
        protocol,
        binary,
        query,
        requestCompression: null,
        responseEncoding: undefined,
        error: invalidArgument("message", "the query is not valid UTF-8"),
      };
  } else if (req.method !== "POST") {
    return undefined;
  } else if (contentType.startsWith("application/grpc-web")) {
    const type = parseGrpcWebContentType(contentType);
    if (!type || type.text) return undefined;
    protocol = "grpc-web";
    binary = type.binary;
  } else if (contentType.startsWith("application/grpc")) {
    const type = parseGrpcContentType(contentType);
    // gRPC needs HTTP/2's trailers.
    if (!type || !("stream" in req)) return undefined;
    protocol = "grpc";
    binary = type.binary;
  } else if (contentTypeUnaryRegExp.test(contentType)) {
    protocol = "connect";
    binary = /proto$/i.test(contentType);
  } else {
    return undefined;
  }
  const connect = protocol === "connect";
  const negotiated = compressionNegotiate(
    accepted,
    connect ? (query ? query.get("compression") : header(req, "content-encoding")) : header(req, "grpc-encoding"),
    header(req, connect ? "accept-encoding" : "grpc-accept-encoding"),
    connect ? "accept-encoding" : "grpc-accept-encoding",
  );
  const timeout = connect
    ? parseConnectTimeout(header(req, "connect-timeout-ms"), 2 ** 31)
    : parseGrpcTimeout(header(req, "grpc-timeout"), 2 ** 31);
  return {
    protocol,
    binary,
    query,
    requestCompression: negotiated.request,
    responseEncoding: negotiated.response?.name as Wire["responseEncoding"],
    timeoutMs: timeout.timeoutMs,
    error: negotiated.error ?? timeout.error,
  };
}

/** The request's one message, as it arrived (before inflating), and as the method's input in binary. */
export interface RequestMessage {
  /** Bytes received: the body, or a GET's message. */
  size: number;
  /** The method's input in protobuf binary. */
  binary: Buffer;
}

/** Reads the request's one message within `limit` bytes (on the wire and inflated). */
export async function readMessage(
  req: Req,
  { wire, method, limit }: { wire: Wire; method: DescMethod; limit: number },
): Promise<RequestMessage> {
  let raw: Buffer;
  let compressed = wire.requestCompression !== null;
  if (wire.query) {
    const text = wire.query.get("message") ?? "";
    raw = wire.query.get("base64") === "1" ? Buffer.from(text, "base64") : Buffer.from(text);
  } else {
    raw = await readBody(req, limit, wire.protocol === "connect" ? 0 : 5);
  }
  const size = raw.length;
  let bytes = raw;
  if (wire.protocol !== "connect") {
    const envelope = unframe(raw);
    if (!envelope)
      throw new ConnectError(
        `a unary ${wire.protocol === "grpc" ? "gRPC" : "gRPC-Web"} request carries exactly one length-prefixed message`,
        Code.InvalidArgument,
      );
    if (envelope.compressed && !compressed)
      throw new ConnectError("compressed message without grpc-encoding", Code.InvalidArgument);
    compressed = envelope.compressed;
    bytes = envelope.message;
  }
  if (compressed && wire.requestCompression)
    bytes = Buffer.from(await wire.requestCompression.decompress(bytes, limit));
  return { size, binary: wire.binary ? bytes : jsonToBinary(method.input, bytes) };
}

/** A request's message in binary as the method's input; bytes that are not one are the caller's bad input. */
export function decodeInput(method: DescMethod, bytes: Uint8Array): unknown {
  try {
    return fromBinary(method.input, bytes);
  } catch (cause) {
    throw new ConnectError(
      `the request is not a valid ${method.input.typeName}`,
      Code.InvalidArgument,
      undefined,
      undefined,
      cause,
    );
  }
}

/** The answer in JSON (from the backend's binary). */
function binaryToJson(method: DescMethod, bytes: Buffer): Buffer {
  try {
    return Buffer.from(toJsonText(method.output, fromBinary(method.output, bytes), gatewayJsonOptions));
  } catch (cause) {
    throw new ConnectError(
      "the service's answer could not be written as JSON",
      Code.Internal,
      undefined,
      undefined,
      cause,
    );
  }
}

/** An answer ready to write: its body (compressed where it pays) and the headers that say how. */
export interface EncodedAnswer {
  body: Buffer;
  /** `content-encoding` (Connect) or `grpc-encoding` (gRPC, gRPC-Web) when compressed. */
  encoding?: "gzip" | "br";
}

/** Encodes the answer (the method's output in binary) as the caller's wire wants it. */
export async function encodeAnswer(wire: Wire, method: DescMethod, output: Buffer): Promise<EncodedAnswer> {
  const body = wire.binary ? output : binaryToJson(method, output);
  const encoding = body.length >= compressMinBytes ? wire.responseEncoding : undefined;
  return encoding ? { body: Buffer.from(await compressors[encoding](body)), encoding } : { body };
}

/** The gRPC-Web trailer frame of a successful call. */
const okTrailer = frame(Buffer.from(trailerSerialize(setTrailerStatus(new Headers(), undefined))), trailerFlag);

/** Writes an encoded answer with the headers the policies set. */
export function writeAnswer(
  res: Res,
  { wire, answer, headers }: { wire: Wire; answer: EncodedAnswer; headers: Record<string, string> },
) {
  const codec = wire.binary ? "proto" : "json";
  const { body, encoding } = answer;
  if (wire.protocol === "connect") {
    (res as http.ServerResponse).writeHead(200, {
      "content-type": `application/${codec}`,
      "content-length": String(body.length),
      ...(encoding ? { "content-encoding": encoding } : {}),
      ...headers,
    });
    (res as http.ServerResponse).end(body);
    return;
  }
  const message = frame(body, encoding ? 1 : 0);
  const head = {
    "content-type":
      wire.protocol === "grpc"
        ? wire.binary
          ? "application/grpc"
          : "application/grpc+json"
        : `application/grpc-web+${codec}`,
    ...(encoding ? { "grpc-encoding": encoding } : {}),
    ...headers,
  };
  if (wire.protocol === "grpc") {
    const h2res = res as http2.Http2ServerResponse;
    h2res.writeHead(200, head);
    h2res.addTrailers({ "grpc-status": "0" });
    h2res.end(message);
    return;
  }
  const whole = Buffer.concat([message, okTrailer]);
  (res as http.ServerResponse).writeHead(200, { ...head, "content-length": String(whole.length) });
  (res as http.ServerResponse).end(whole);
}
