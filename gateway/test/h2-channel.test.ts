/**
 * The gateway's node:http2 unary channel against real grpc-js servers over sockets: round robin
 * over fixed and DNS targets, re-resolution, a dead address among live ones, a backend restart,
 * status details, size limits, deadlines, a peer that never speaks HTTP/2, a non-gRPC answer.
 */
import { waitFor } from "#test/support/until.js";
import { afterEach, describe, expect, it } from "vitest";
import * as http2 from "node:http2";
import * as net from "node:net";
import { status } from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CryptoService, HashRequestSchema, HashResponseSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { createServiceServer, register, type ServiceServer } from "#runtime/server.js";
import { createLogger } from "#runtime/logger.js";
import { decodeStatus, invalidArgument } from "#runtime/errors.js";
import { parseTarget } from "#runtime/ports.js";
import { createUnaryChannel, type GrpcFailure, type UnaryChannel } from "../backends/h2-channel.js";
import { freePort } from "#test/support/mesh.js";

const logger = createLogger({ name: "test", level: "silent" });
const hashPath = "/flowforge.crypto.v1.CryptoService/Hash";
const cleanup: (() => unknown)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A crypto server whose Hash answers with its own name (or what `text` asks for). */
async function server(name: string, address: string): Promise<{ server: ServiceServer; port: number }> {
  const s = createServiceServer({
    logger,
    services: [
      register(CryptoService, {
        async hash(req) {
          const text = req.input.case === "text" ? req.input.value : "";
          if (text === "invalid") throw invalidArgument("text", "is not acceptable");
          if (text === "big") return { digest: "x".repeat(4096) };
          if (text.startsWith("sleep")) await new Promise((r) => setTimeout(r, Number(text.slice(5))));
          return { digest: name };
        },
      }),
    ],
  });
  const port = await s.listen(address);
  cleanup.push(() => s.shutdown({ graceMs: 100 }));
  return { server: s, port };
}

function channel(target: string, options: Partial<Parameters<typeof createUnaryChannel>[1]> = {}): UnaryChannel {
  const ch = createUnaryChannel(target, { maxMessageBytes: 1024, ...options });
  cleanup.push(() => ch.close());
  return ch;
}

async function hash(
  ch: UnaryChannel,
  text = "",
  deadlineMs = 2000,
  signal = new AbortController().signal,
): Promise<string> {
  const request = Buffer.from(
    toBinary(HashRequestSchema, create(HashRequestSchema, { input: { case: "text", value: text } })),
  );
  const response = await ch.call({
    path: hashPath,
    message: request,
    headers: { "x-request-id": "t" },
    deadline: Date.now() + deadlineMs,
    signal,
  });
  return fromBinary(HashResponseSchema, response).digest;
}

async function failure(p: Promise<unknown>): Promise<GrpcFailure> {
  try {
    await p;
  } catch (f) {
    return f as GrpcFailure;
  }
  throw new Error("the call succeeded");
}

describe("targets", () => {
  it("reads the forms grpc-js reads and names what is wrong with others", () => {
    expect(parseTarget("dns:///crypto:50051")).toEqual({ host: "crypto", port: 50051 });
    expect(parseTarget("dns:crypto:50051")).toEqual({ host: "crypto", port: 50051 });
    expect(parseTarget("crypto.flowforge.svc:1")).toEqual({ host: "crypto.flowforge.svc", port: 1 });
    expect(parseTarget("127.0.0.1:5")).toEqual({ fixed: ["127.0.0.1:5"] });
    expect(parseTarget("ipv4:127.0.0.1:5,127.0.0.2:6")).toEqual({ fixed: ["127.0.0.1:5", "127.0.0.2:6"] });
    expect(parseTarget("ipv6:[::1]:7")).toEqual({ fixed: ["[::1]:7"] });
    expect(() => parseTarget("dns:///crypto")).toThrow(/"dns:\/\/\/crypto" must name a host and a port/);
    expect(() => parseTarget("crypto:0")).toThrow(/must name a host and a port/);
    expect(() => parseTarget("ipv4:crypto:5")).toThrow(/lists "crypto", which is not an IP address/);
    expect(() => parseTarget("unix:///tmp/x.sock")).toThrow(/only dns:, ipv4: and ipv6: targets/);
  });
});

describe("load balancing", () => {
  it("spreads calls round robin over a fixed list", async () => {
    const a = await server("a", "127.0.0.1:0");
    const b = await server("b", "127.0.0.1:0");
    const ch = channel(`ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}`);
    const seen = await Promise.all(Array.from({ length: 20 }, () => hash(ch)));
    expect(seen.filter((s) => s === "a").length).toBe(10);
    expect(seen.filter((s) => s === "b").length).toBe(10);
  });

  it("follows what DNS answers, resolving again after refreshMs", async () => {
    const port = await freePort();
    await server("one", `127.0.0.1:${port}`);
    await server("two", `127.0.0.2:${port}`);
    let answer = ["127.0.0.1"];
    const asked: string[] = [];
    const ch = channel(`dns:///backend.test:${port}`, {
      refreshMs: 1000,
      resolve: async (host) => {
        asked.push(host);
        return answer;
      },
    });
    expect(new Set(await Promise.all([hash(ch), hash(ch), hash(ch)]))).toEqual(new Set(["one"]));
    answer = ["127.0.0.1", "127.0.0.2"];
    // The refresh is due a second after the first resolution; calls on the way start it.
    await waitFor(
      async () => {
        await hash(ch);
        return asked.length === 2;
      },
      { what: "a second resolution" },
    );
    // The new address joins once it is connected; until then, calls stay on the ready one.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        seen.add(await hash(ch));
        return seen.has("two");
      },
      { what: "a call on the new address" },
    );
    expect(seen).toEqual(new Set(["one", "two"]));
    expect(new Set(await Promise.all(Array.from({ length: 6 }, () => hash(ch))))).toEqual(new Set(["one", "two"]));
    expect(asked).toEqual(["backend.test", "backend.test"]);
  });

  it("a resolver failure answers unavailable, naming the target", async () => {
    const ch = channel("dns:///nowhere.test:5", { resolve: () => Promise.reject(new Error("ENOTFOUND nowhere.test")) });
    const f = await failure(hash(ch));
    expect(f.code).toBe(status.UNAVAILABLE);
    expect(f.details).toBe("cannot resolve dns:///nowhere.test:5: ENOTFOUND nowhere.test");
  });

  it("an address that refuses connections costs no call: they go to the one that answers", async () => {
    const live = await server("live", "127.0.0.1:0");
    const dead = await freePort();
    const ch = channel(`ipv4:127.0.0.1:${dead},127.0.0.1:${live.port}`);
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await hash(ch).catch((f: GrpcFailure) => f.code));
    expect(results).toEqual(Array(10).fill("live"));
  });

  it("a replica that restarts costs no call, and takes calls again once it is back", async () => {
    const a = await server("a", "127.0.0.1:0");
    const b = await server("b", "127.0.0.1:0");
    const ch = channel(`ipv4:127.0.0.1:${a.port},127.0.0.1:${b.port}`);
    const answers: (string | number)[] = [];
    const call = async () => answers.push(await hash(ch).catch((f: GrpcFailure) => f.code));
    for (let i = 0; i < 10; i++) await call();
    await a.server.shutdown({ graceMs: 100 }); // GOAWAY, port closed
    for (let i = 0; i < 10; i++) await call();
    const down = answers.length;
    await server("a again", `127.0.0.1:${a.port}`);
    await waitFor(
      async () => {
        await call();
        return answers.slice(down).includes("a again");
      },
      { what: "a call on a again" },
    );
    expect(answers.filter((x) => typeof x === "number")).toEqual([]); // no call failed
    expect(new Set(answers.slice(0, 10))).toEqual(new Set(["a", "b"]));
    expect(answers.slice(10, down)).toEqual(Array(10).fill("b")); // while a was down
    expect(answers.slice(down)).toContain("a again");
  });
});

describe("connections", () => {
  it("reconnects after the backend restarts", async () => {
    const first = await server("first", "127.0.0.1:0");
    const ch = channel(`127.0.0.1:${first.port}`);
    expect(await hash(ch)).toBe("first");
    await first.server.shutdown({ graceMs: 100 }); // GOAWAY, then the port closes
    expect((await failure(hash(ch))).code).toBe(status.UNAVAILABLE);
    await server("second", `127.0.0.1:${first.port}`);
    const answer = await waitFor(
      async () => {
        const a = await hash(ch).catch((f: GrpcFailure) => f.code);
        return a === "second" && a;
      },
      { what: "an answer from the restarted backend" },
    );
    expect(answer).toBe("second");
  });

  it("a peer that accepts and never speaks HTTP/2 costs the call its deadline, no more", async () => {
    const silent = net.createServer(() => {}).listen(0, "127.0.0.1");
    await new Promise((r) => silent.once("listening", r));
    cleanup.push(() => {
      silent.close();
    });
    const ch = channel(`127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
    const f = await failure(hash(ch, "", 300));
    expect(f).toEqual({ code: status.DEADLINE_EXCEEDED, details: "deadline exceeded" });
  });

  it("an HTTP/2 answer without grpc-status maps the HTTP status", async () => {
    const plain = http2.createServer((_req, res) => {
      res.writeHead(503);
      res.end("busy");
    });
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    cleanup.push(() => {
      plain.close();
    });
    const ch = channel(`127.0.0.1:${(plain.address() as net.AddressInfo).port}`);
    expect(await failure(hash(ch))).toEqual({ code: status.UNAVAILABLE, details: "the backend answered HTTP 503" });
  });
});

describe("calls", () => {
  it("carries the backend's status, message and details", async () => {
    const s = await server("s", "127.0.0.1:0");
    const f = await failure(hash(channel(`127.0.0.1:${s.port}`), "invalid"));
    expect(f.code).toBe(status.INVALID_ARGUMENT);
    const err = decodeStatus(f.code, f.details, f.statusDetails);
    expect(err.rawMessage).toBe("text: is not acceptable");
    expect(err.details.map((d) => ("type" in d ? d.type : d.desc.typeName))).toContain("google.rpc.BadRequest");
  });

  it("refuses a response over the size limit", async () => {
    const s = await server("s", "127.0.0.1:0");
    const ch = channel(`127.0.0.1:${s.port}`);
    expect(await failure(hash(ch, "big"))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: "the response is over the 1024-byte limit",
    });
    expect(await hash(ch)).toBe("s"); // the session is still good
  });

  it("a deadline or an abort ends the call with its own status", async () => {
    const s = await server("s", "127.0.0.1:0");
    const ch = channel(`127.0.0.1:${s.port}`);
    expect((await failure(hash(ch, "sleep1000", 100))).code).toBe(status.DEADLINE_EXCEEDED);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    expect((await failure(hash(ch, "sleep1000", 2000, abort.signal))).code).toBe(status.CANCELLED);
    expect((await failure(hash(ch, "", 2000, abort.signal))).code).toBe(status.CANCELLED);
    ch.close();
    expect(await failure(hash(ch))).toEqual({ code: status.UNAVAILABLE, details: "the gateway is shutting down" });
  });
});
