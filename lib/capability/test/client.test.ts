/**
 * A capability's client of another spreads its calls over every backend the address names, over
 * real gRPC sockets: two servers on 127.0.0.1 and 127.0.0.2 (one port, as two replicas behind a
 * headless Service), found by a fixed list or by DNS, and DNS answering differently later.
 */
import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { freePort } from "#runtime/ports.js";
import { until } from "#test/support/until.js";
import { capabilityClient } from "../client.js";

const hosts = ["127.0.0.1", "127.0.0.2"];
let port: number;
const servers: http2.Http2Server[] = [];
const sessions = new Set<http2.ServerHttp2Session>();

beforeAll(async () => {
  port = await freePort();
  for (const host of hosts) {
    // Each replica answers with its own address.
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(CryptoService, {
          hash: (req) => {
            return { digest: `${host}:${req.input.case === "text" ? req.input.value : ""}` };
          },
        }),
    });
    const server = http2.createServer(handler);
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    servers.push(server);
  }
});
afterAll(async () => {
  // The clients keep their connections; the servers end them.
  for (const session of sessions) session.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

const text = (value: string) => ({ input: { case: "text" as const, value } });

const spread = async (client: ReturnType<typeof capabilityClient<typeof CryptoService>>, calls: number) => {
  const answers = await Promise.all(Array.from({ length: calls }, (_, i) => client.hash(text(String(i)))));
  const by = new Map<string, number>();
  answers.forEach((a, i) => {
    const [host, text] = a.digest.split(":");
    expect(text).toBe(String(i));
    by.set(host, (by.get(host) ?? 0) + 1);
  });
  return Object.fromEntries(by);
};

describe("capabilityClient", () => {
  it("takes the backends of a fixed list in turn", async () => {
    const client = capabilityClient(CryptoService, `ipv4:127.0.0.1:${port},127.0.0.2:${port}`);
    expect(await spread(client, 10)).toEqual({ "127.0.0.1": 5, "127.0.0.2": 5 });
  });

  it("takes every address DNS gives in turn, and follows DNS when it changes", async () => {
    let answer = hosts;
    const client = capabilityClient(CryptoService, `dns:///replicas.test:${port}`, {
      resolve: async (name) => {
        expect(name).toBe("replicas.test");
        return answer;
      },
      refreshMs: 50,
    });
    expect(await spread(client, 10)).toEqual({ "127.0.0.1": 5, "127.0.0.2": 5 });
    // One replica gone from DNS: once resolved again, every call goes to the other.
    answer = ["127.0.0.2"];
    await until(
      async () =>
        (await client.hash(text("x"))).digest.startsWith("127.0.0.2") &&
        (await client.hash(text("y"))).digest.startsWith("127.0.0.2"),
    );
    expect(await spread(client, 6)).toEqual({ "127.0.0.2": 6 });
  });

  it("a host:port is one backend; a target it cannot read is refused when the client is made", async () => {
    const client = capabilityClient(CryptoService, `127.0.0.2:${port}`);
    expect(await spread(client, 4)).toEqual({ "127.0.0.2": 4 });
    expect(() => capabilityClient(CryptoService, "unix:///tmp/llm.sock")).toThrow(/only dns:, ipv4: and ipv6:/);
    expect(() => capabilityClient(CryptoService, "llm")).toThrow(/must name a host and a port/);
  });
});
