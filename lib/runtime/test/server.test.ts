/**
 * The service server's shutdown over real sockets: health goes NOT_SERVING, calls in flight
 * finish within the grace period, calls still running after it are cut (their handlers' signals
 * abort), and no new connection is accepted; grpc.health.v1 (Check, List, Watch) tells of it.
 */
import { waitFor } from "#test/support/until.js";
import { describe, expect, it } from "vitest";
import * as net from "node:net";
import { Code } from "@connectrpc/connect";
import { CryptoService, HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { createServiceServer, register } from "../server.js";
import { createLogger } from "../logger.js";
import { errorOf, grpcJsUnary } from "#test/support/clients.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Status } from "#gen/grpc/health/v1/health_pb.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

const logger = createLogger({ name: "test", level: "silent" });

/**
 * A server whose Hash sleeps for the milliseconds in `text` and records those whose signal aborted
 * mid-sleep; `running(n)` resolves once n calls are in their handlers (in flight, not just sent).
 */
async function sleepyServer() {
  const aborted: string[] = [];
  let entered = 0;
  const waiting: { n: number; resolve: () => void }[] = [];
  const server = createServiceServer({
    logger,
    services: [
      register(CryptoService, {
        async hash(req, ctx) {
          const ms = Number(req.input.case === "text" ? req.input.value : 0);
          entered++;
          for (const w of waiting.filter((w) => entered >= w.n)) w.resolve();
          let slept = false;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              slept = true;
              resolve();
            }, ms);
            // (The signal also aborts once a call has ended; only a cut mid-sleep counts.)
            ctx.signal.addEventListener("abort", () => {
              if (slept) return;
              clearTimeout(timer);
              aborted.push(String(ms));
              resolve();
            });
          });
          return { digest: `slept ${ms}` };
        },
      }),
    ],
  });
  const port = await server.listen("127.0.0.1:0");
  const hash = (ms: number) =>
    grpcJsUnary(`127.0.0.1:${port}`, CryptoService.method.hash, {
      algorithm: HashAlgorithm.SHA256,
      input: { case: "text", value: String(ms) },
    });
  const running = (n: number) =>
    new Promise<void>((resolve) => (entered >= n ? resolve() : waiting.push({ n, resolve })));
  return { server, port, hash, aborted, running };
}

describe("service server shutdown", () => {
  it("lets a call finish within the grace period, returns once it has, and then accepts no connection", async () => {
    const { server, port, hash, running } = await sleepyServer();
    expect((await hash(0)).digest).toBe("slept 0");
    const inFlight = hash(300);
    await running(2); // a loaded machine can take longer than any fixed wait to deliver the call
    // A grace period longer than the test's own time limit: shutdown must return when the call is done.
    await server.shutdown({ graceMs: 60_000 });
    expect((await inFlight).digest).toBe("slept 300");
    const refused = await new Promise<string>((resolve) =>
      net
        .connect(port, "127.0.0.1")
        .once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? ""))
        .once("connect", () => resolve("connected")),
    );
    expect(refused).toBe("ECONNREFUSED");
  });

  it("cuts what still runs after the grace period: the caller is told, the handler's signal aborts", async () => {
    const { server, hash, aborted, running } = await sleepyServer();
    const short = hash(200);
    const long = errorOf(hash(60_000));
    await running(2);
    await server.shutdown({ graceMs: 1000 });
    expect((await short).digest).toBe("slept 200"); // finished within the grace period
    expect([Code.Canceled, Code.Unavailable, Code.Internal]).toContain((await long).code);
    await waitFor(() => aborted.length > 0, { what: "the long call aborted" });
    expect(aborted).toEqual(["60000"]);
  });

  it("reads the address it is given and names a bad one", async () => {
    const { server } = await sleepyServer();
    await expect(server.listen("nowhere")).rejects.toThrow(
      'listen address "nowhere" must be host:port, e.g. 0.0.0.0:50051',
    );
    expect(await server.listen("[::1]:0")).toBeGreaterThan(0);
    await server.shutdown({ graceMs: 100 });
  });
});

describe("answers larger than a message", () => {
  it("are refused as invalid_argument naming the largest field, not resource_exhausted; smaller ones go through", async () => {
    const server = createServiceServer({
      logger,
      maxMessageBytes: 64 * 1024,
      services: [
        register(CryptoService, {
          hash: (req) => ({ digest: "x".repeat(Number(req.input.case === "text" ? req.input.value : 0)) }),
        }),
      ],
    });
    const port = await server.listen("127.0.0.1:0");
    try {
      const call = (size: number) =>
        grpcJsUnary(`127.0.0.1:${port}`, CryptoService.method.hash, {
          algorithm: HashAlgorithm.SHA256,
          input: { case: "text", value: String(size) },
        });
      expect((await call(60 * 1024)).digest).toHaveLength(60 * 1024);
      const err = await errorOf(call(100 * 1024));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0]).toMatchObject({ field: "digest" });
      expect(err.rawMessage).toMatch(/more than the 0\.1 MiB a message may carry/);
      expect((await call(10)).digest).toBe("x".repeat(10)); // the server goes on
    } finally {
      await server.shutdown({ graceMs: 100 });
    }
  });
});

describe("grpc.health.v1", () => {
  it("answers Check and List for the process and each service, names an unknown one, and tells a Watch of the shutdown", async () => {
    const { server, port } = await sleepyServer();
    const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    expect((await client.check({ service: "" })).status).toBe(Status.SERVING);
    expect((await client.check({ service: CryptoService.typeName })).status).toBe(Status.SERVING);
    const unknown = await errorOf(client.check({ service: "nope.v1.Nope" }));
    expect(unknown.code).toBe(Code.NotFound);
    expect(unknown.rawMessage).toContain('"nope.v1.Nope"');
    const listed = await client.list({});
    expect(Object.fromEntries(Object.entries(listed.statuses).map(([n, s]) => [n, s.status]))).toEqual({
      "": Status.SERVING,
      [CryptoService.typeName]: Status.SERVING,
    });

    const abort = new AbortController();
    const heard: Status[] = [];
    const unknownHeard: Status[] = [];
    const watch = (async () => {
      for await (const { status } of client.watch({ service: CryptoService.typeName }, { signal: abort.signal })) {
        heard.push(status);
        if (status === Status.NOT_SERVING) abort.abort();
      }
    })().catch((err) => err);
    for await (const { status } of client.watch({ service: "later.v1.Later" })) {
      unknownHeard.push(status);
      break;
    }
    await waitFor(() => heard.length === 1, { what: "the watch's first status" });
    const stopped = server.shutdown({ drainMs: 200, graceMs: 500 });
    await waitFor(() => heard.length === 2, { what: "the watch hearing NOT_SERVING" });
    await stopped;
    await watch;
    expect(heard).toEqual([Status.SERVING, Status.NOT_SERVING]);
    expect(unknownHeard).toEqual([Status.SERVICE_UNKNOWN]);
  });
});
