/**
 * Hostile or broken input on every path of the gateway (every unary protocol and connect-node's streams): an
 * unknown caller is refused before any body is read or inflated, garbage protobuf and invalid
 * UTF-8 are invalid_argument, refusals carry each header once, and a client that drops mid-upload
 * is logged as its own cancellation.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "#test/support/until.js";
import * as http2 from "node:http2";
import { request } from "node:http";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CryptoService, HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService, JobState, WatchJobRequestSchema, WatchJobResponseSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { register } from "#runtime/server.js";
import { createLogger } from "#runtime/logger.js";
import { parseTierLimits } from "../policies/rate-limit.js";
import { startTestGateways, type TestGateways } from "./setup.js";

const logLines: Record<string, unknown>[] = [];
const destination = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
    done();
  },
});
const logger = createLogger({ name: "test", level: "info", destination });
let bed: TestGateways;
let url: string;
let key: string;
let limited: string;
let hashes = 0;
const watched: string[] = [];

beforeAll(async () => {
  bed = await startTestGateways({
    services: [
      register(CryptoService, {
        hash: () => {
          hashes++;
          return { digest: "spy" };
        },
      }),
      register(JobService, {
        async *watchJob(req) {
          watched.push(req.jobId);
          yield { sequence: 1n, event: { case: "stateChanged", value: { state: JobState.RUNNING } } };
        },
      }),
    ],
    capabilities: ["crypto", "jobs"],
    // The gateway logs where the test reads it.
    gateway: { logger, maxRequestBytes: 32 * 1024 * 1024, tierLimits: parseTierLimits("free=1:1") },
  });
  [url] = bed.urls;
  key = (await bed.keys.create({ tenantId: "t", name: "", tier: Tier.ENTERPRISE, scopes: ["*"] })).secret;
  limited = (await bed.keys.create({ tenantId: "t", name: "", tier: Tier.FREE, scopes: ["*"] })).secret;
});
afterAll(() => bed?.close());

const path = "/flowforge.crypto.v1.CryptoService/Hash";
const hashRequest = toBinary(HashRequestSchema, create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256 }));

function frame(msg: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, Buffer.from(msg)]);
}

type Fields = http2.IncomingHttpHeaders;

/** One HTTP/2 request; resolves with its headers, trailers (a header sent twice shows as "a, a") and body. */
function h2(
  headers: Record<string, string>,
  body: Buffer,
  at = path,
): Promise<{ headers: Fields; trailers: Fields; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": at, ...headers });
    const chunks: Buffer[] = [];
    let head: Fields = {};
    let trailers: Fields = {};
    stream.on("response", (h) => (head = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      session.close();
      const all = Buffer.concat(chunks);
      resolve({ headers: head, trailers: { ...trailers, ...grpcWebTrailers(all) }, body: all });
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

/** The trailers a gRPC-Web body ends with (a frame flagged 0x80 of `name: value` lines); repeated names joined with ", ". */
function grpcWebTrailers(body: Buffer): Fields {
  const out: Record<string, string> = {};
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    if (body[at] & 0x80) {
      for (const line of body
        .subarray(at + 5, at + 5 + length)
        .toString()
        .split("\r\n")
        .filter(Boolean)) {
        const [name, ...rest] = line.split(":");
        const key = name.trim().toLowerCase();
        out[key] = out[key] === undefined ? rest.join(":").trim() : `${out[key]}, ${rest.join(":").trim()}`;
      }
    }
    at += 5 + length;
  }
  return out;
}

/** A header's value from the headers, else the trailers. */
const field = (res: { headers: Fields; trailers: Fields }, name: string) =>
  (res.headers[name] ?? res.trailers[name]) as string | undefined;

describe("unknown callers are refused before their body is read", () => {
  const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024)); // 32 MiB of zeros, ~32 KiB on the wire
  const cases: [string, Record<string, string>, Buffer][] = [
    ["gzip Connect", { "content-type": "application/proto", "content-encoding": "gzip" }, bomb],
    ["gRPC-Web", { "content-type": "application/grpc-web+proto" }, frame(hashRequest)],
    ["gzip gRPC", { "content-type": "application/grpc", "grpc-encoding": "gzip", te: "trailers" }, frame(bomb, 1)],
  ];
  it.each(cases)("%s: unauthenticated, nothing inflated", async (_name, headers, body) => {
    const before = process.memoryUsage().arrayBuffers;
    const res = await h2({ ...headers, authorization: "Bearer ffk_nobody" }, body);
    if (headers["content-type"].startsWith("application/grpc")) expect(field(res, "grpc-status")).toBe("16");
    else expect(JSON.parse(res.body.toString()).code).toBe("unauthenticated");
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it("GET: unauthenticated before its message is decoded", async () => {
    const res = await fetch(`${url}${path}?encoding=json&message=${encodeURIComponent("not json")}`);
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe("unauthenticated");
  });
});

describe("garbage and invalid text are invalid_argument on every path", () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  it("garbage protobuf: gzip Connect, gRPC-Web and gRPC", async () => {
    const connect = await h2(
      { "content-type": "application/proto", "content-encoding": "gzip", authorization: `Bearer ${key}` },
      gzipSync(garbage),
    );
    expect(JSON.parse(connect.body.toString()).code).toBe("invalid_argument");
    const web = await h2(
      { "content-type": "application/grpc-web+proto", authorization: `Bearer ${key}` },
      frame(garbage),
    );
    expect(field(web, "grpc-status")).toBe("3");
    const grpc = await h2(
      { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${key}` },
      frame(garbage),
    );
    expect(field(grpc, "grpc-status")).toBe("3");
  });

  it("garbage protobuf for a server stream: invalid_argument, and the service never sees it", async () => {
    const watch = "/flowforge.jobs.v1.JobService/WatchJob";
    const headers = { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${key}` };
    const bad = await h2(headers, frame(Buffer.from([0xff, 0xff, 0xff, 0xff])), watch);
    expect(field(bad, "grpc-status")).toBe("3");
    expect(watched).toEqual([]);
    // A good request still reaches it, the bytes read for the check handed on whole.
    const good = await h2(
      headers,
      frame(toBinary(WatchJobRequestSchema, create(WatchJobRequestSchema, { jobId: "j1" }))),
      watch,
    );
    expect(field(good, "grpc-status")).toBe("0");
    expect(watched).toEqual(["j1"]);
    expect(fromBinary(WatchJobResponseSchema, good.body.subarray(5)).sequence).toBe(1n);
  });

  it("invalid UTF-8 in JSON: refused plain, gzip and over GET", async () => {
    const bad = Buffer.concat([
      Buffer.from('{"algorithm":"HASH_ALGORITHM_SHA256","text":"a'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    const before = hashes;
    for (const [headers, body] of [
      [{ "content-type": "application/json" }, bad],
      [{ "content-type": "application/json", "content-encoding": "gzip" }, gzipSync(bad)],
    ] as const) {
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { ...headers, authorization: `Bearer ${key}` },
        body,
      });
      expect(res.status).toBe(400);
      expect((await res.json()).code).toBe("invalid_argument");
    }
    const get = await fetch(
      `${url}${path}?encoding=json&message=${encodeURIComponent('{"algorithm":"HASH_ALGORITHM_SHA256","text":"a')}%C3%28%22%7D`,
      { headers: { authorization: `Bearer ${key}` } },
    );
    expect(get.status).toBe(400);
    expect((await get.json()).code).toBe("invalid_argument");
    expect(hashes).toBe(before); // nothing reached the service
  });
});

describe("refusals carry each header once", () => {
  it("gRPC and gRPC-Web rate-limit refusals: one retry-after, one x-request-id", async () => {
    const call = (contentType: string) =>
      h2(
        {
          "content-type": contentType,
          te: "trailers",
          authorization: `Bearer ${limited}`,
          "x-request-id": "dup-check",
        },
        frame(hashRequest),
      );
    await call("application/grpc");
    for (const contentType of ["application/grpc", "application/grpc-web+proto"]) {
      const res = await call(contentType);
      expect(field(res, "grpc-status")).toBe("8");
      expect(field(res, "retry-after")).toMatch(/^\d+$/); // once: a repeated header would read "n, n"
      expect(field(res, "x-request-id")).toBe("dup-check");
    }
  });
});

describe("a client that drops mid-upload", () => {
  it("is logged as a cancellation at info, not an error with code Unknown", async () => {
    for (const contentType of ["application/proto", "application/grpc-web+proto"]) {
      logLines.length = 0;
      await new Promise<void>((resolve) => {
        const req = request(`${url}${path}`, {
          method: "POST",
          headers: { "content-type": contentType, "content-length": "100000", authorization: `Bearer ${key}` },
        });
        req.on("error", () => resolve());
        req.on("close", () => resolve());
        // The start of one 99,995-byte message (the gRPC-Web frame head; plain bytes for Connect), never finished.
        const start = Buffer.alloc(1000);
        start.writeUInt32BE(99_995, 1);
        req.write(start, () => req.destroy()); // gone once the start has left
      });
      await waitFor(() => logLines.some((l) => l.msg === "call"), { what: "the call's access-log line" });
      const calls = logLines.filter((l) => l.msg === "call");
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ code: "Canceled", level: 30 });
      expect(logLines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    }
  });
});
