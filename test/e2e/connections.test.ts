/**
 * Connections that send nothing cannot use up the gateway's descriptors: the mesh runs under an
 * open-file limit of 1,024 while 3,000 sockets connect and stay silent; calls and /healthz still
 * answer, the idle sockets are closed (the oldest first once over the cap, the rest at the
 * first-request timeout).
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "#test/support/until.js";
import { CryptoService, HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { startMesh, type Mesh } from "../support/mesh.js";
import { connectClient } from "../support/clients.js";

let mesh: Mesh;
beforeAll(async () => {
  mesh = await startMesh({ FIRST_REQUEST_TIMEOUT_MS: "3000" }, { openFiles: 1024 });
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens `n` sockets that never send a byte; counts those the server closes. */
async function idleSockets(port: number, n: number) {
  const sockets: net.Socket[] = [];
  let closed = 0;
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, "127.0.0.1");
    s.on("error", () => {});
    s.on("close", () => closed++);
    sockets.push(s);
    if (i % 200 === 199) await sleep(10);
  }
  await Promise.all(
    sockets.map(
      (s) => new Promise((r) => (s.readyState === "opening" ? s.once("connect", r).once("close", r) : r(null))),
    ),
  );
  return { sockets, closed: () => closed };
}

describe("idle connections", () => {
  it("3,000 silent sockets under a 1,024-descriptor limit: calls and /healthz still answer, the silent ones are closed", async () => {
    expect(mesh.output()).toMatch(/"openFileLimit":1024/);
    const flood = await idleSockets(mesh.port, 3000);
    try {
      const crypto = connectClient(CryptoService, mesh.url, mesh.adminKey);
      const { digest } = await crypto.hash({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "abc" } });
      expect(digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
      const health = await fetch(`${mesh.url}/healthz`);
      expect(health.status).toBe(200);
      // Over the idle cap the oldest silent ones were closed at once.
      expect(flood.closed()).toBeGreaterThan(2000);
      // The rest go at the first-request timeout.
      await until(
        () => flood.closed() >= 3000,
        20_000,
        () => `${flood.closed()} closed`,
      );
      expect(flood.closed()).toBe(3000);
    } finally {
      for (const s of flood.sockets) s.destroy();
    }
  }, 120_000);

  it("a connection that sends half a request is closed at the first-request timeout; a kept-alive one answers again", async () => {
    const half = net.connect(mesh.port, "127.0.0.1");
    const halfClosed = new Promise((r) => half.once("close", r));
    half.on("error", () => {});
    half.write("POST /flowforge.crypto.v1.CryptoService/Hash HTTP/1.1\r\nHost: x\r\n");
    // A keep-alive connection that made a request stays usable past the timeout.
    const crypto = connectClient(CryptoService, mesh.url, mesh.adminKey);
    await crypto.hash({ algorithm: HashAlgorithm.MD5, input: { case: "text", value: "abc" } });
    await halfClosed;
    const { digest } = await crypto.hash({ algorithm: HashAlgorithm.MD5, input: { case: "text", value: "abc" } });
    expect(digest).toBe("900150983cd24fb0d6963f7d28e17f72");
  }, 60_000);
});
