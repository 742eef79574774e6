/** A nats-server of a test's own (Debian's binary, a free port, its own store directory). */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "#runtime/ports.js";

/** A running nats-server that can be killed and started again on the same port and store. */
export interface NatsServer {
  url: string;
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function waitForPort(port: number, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nats-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts nats-server with JetStream on a free port. */
export async function startNats(): Promise<NatsServer> {
  const port = await freePort();
  const store = await mkdtemp(join(tmpdir(), "flowforge-nats-"));
  let child: ChildProcess | undefined;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    async start() {
      child = spawn("nats-server", ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store], { stdio: "ignore" });
      await waitForPort(port);
    },
    async kill() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      await server.kill();
      await rm(store, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
