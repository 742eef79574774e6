/**
 * The launcher (`npm start`) supervising real processes: crashed children come back however often
 * they crash, the crash count resets after a healthy period, /healthz reports every process, and
 * SIGTERM always ends the launcher and its children, even with a child waiting out its backoff or
 * one that cannot answer signals.
 */
import { afterAll, describe, expect, it } from "vitest";
import { HashAlgorithm, CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { startMesh, type Mesh } from "../support/mesh.js";
import { connectClient } from "../support/clients.js";
import { waitFor } from "../support/until.js";

/** The launcher's behaviour needs one capability beside the jobs service and the gateway. */
const cryptoOnly = { FLOWFORGE_CAPABILITIES: "crypto" };
const meshes: Mesh[] = [];
afterAll(async () => {
  for (const m of meshes) await m.stop().catch(() => {});
});

interface Health {
  status: string;
  processes?: Record<
    string,
    { state: string; restarts: number; crashes: number; pid?: number; lastExit?: { signal: string | null } }
  >;
}

async function health(mesh: Mesh): Promise<{ code: number; body: Health }> {
  const res = await fetch(`${mesh.url}/healthz`);
  return { code: res.status, body: (await res.json()) as Health };
}

const isGone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

/** Resolves once the launcher has exited. */
const exitOf = (mesh: Mesh) => waitFor(() => isGone(mesh.pid), { what: "the launcher to exit", ms: 60_000 });

describe("launcher", () => {
  it("restarts a child after its seventh crash and beyond, resets the count once healthy, reports it in /healthz", async () => {
    const mesh = await startMesh({
      ...cryptoOnly,
      LAUNCHER_BACKOFF_MS: "50",
      LAUNCHER_BACKOFF_MAX_MS: "400",
      // Long enough that a loaded machine never takes that long between two crashes (one round took 4.7 s in CI).
      LAUNCHER_HEALTHY_MS: "10000",
    });
    meshes.push(mesh);
    const crypto = connectClient(CryptoService, mesh.url, mesh.adminKey);
    const first = await health(mesh);
    expect(first.code).toBe(200);
    // The capabilities FLOWFORGE_CAPABILITIES names, the jobs service and the gateway; no other.
    expect(Object.keys(first.body.processes ?? {}).sort()).toEqual(["crypto", "gateway", "jobs"]);
    expect(first.body.processes!.crypto).toMatchObject({ state: "running", restarts: 0, crashes: 0 });
    for (let crash = 1; crash <= 8; crash++) {
      const victim = mesh.pidOf("crypto");
      process.kill(victim, "SIGKILL");
      await waitFor(async () => (mesh.pidOf("crypto") !== victim ? true : undefined), {
        what: "crypto to come back",
        ms: 60_000,
        retryErrors: true,
      });
      const after = await waitFor(
        async () => {
          const h = await health(mesh);
          return h.code === 200 ? h : undefined;
        },
        { what: "a healthy mesh", ms: 60_000, retryErrors: true },
      );
      expect(after.body.processes!.crypto).toMatchObject({
        state: "running",
        restarts: crash,
        crashes: crash,
        lastExit: { signal: "SIGKILL" },
      });
      const { digest } = await waitFor(
        async () => crypto.hash({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "abc" } }),
        { what: "a Hash call", ms: 60_000, retryErrors: true },
      );
      expect(digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    // Up for the healthy period: the consecutive count is back to zero, the total stays.
    const reset = await waitFor(
      async () => {
        const h = await health(mesh);
        return h.body.processes?.crypto.crashes === 0 ? h : undefined;
      },
      { what: "the crash count to reset", ms: 60_000, retryErrors: true },
    );
    expect(reset.body.processes!.crypto).toMatchObject({ state: "running", restarts: 8 });
    // While a child is down the health report says so.
    const victim = mesh.pidOf("crypto");
    process.kill(victim, "SIGKILL");
    const down = await waitFor(
      async () => {
        const h = await health(mesh);
        return h.code === 503 ? h : undefined;
      },
      { what: "an unhealthy report", ms: 60_000, retryErrors: true },
    );
    expect(down.body.status).toBe("NOT_SERVING");
  }, 180_000);

  it("SIGTERM while a child waits out its backoff: the launcher and every child exit", async () => {
    const mesh = await startMesh({ ...cryptoOnly, LAUNCHER_BACKOFF_MS: "60000" });
    meshes.push(mesh);
    const children = ["crypto", "jobs", "gateway"].map((n) => mesh.pidOf(n));
    process.kill(mesh.pidOf("crypto"), "SIGKILL");
    await waitFor(async () => ((await health(mesh)).body.processes?.crypto.state === "restarting" ? true : undefined), {
      what: "crypto to be reported restarting",
      ms: 60_000,
      retryErrors: true,
    });
    process.kill(mesh.pid, "SIGTERM");
    await exitOf(mesh);
    await waitFor(async () => (children.every(isGone) ? true : undefined), {
      what: "every child to be gone",
      ms: 20_000,
      retryErrors: true,
    });
  }, 120_000);

  it("SIGTERM with a child that cannot answer (stopped): the launcher kills it after the grace period and exits", async () => {
    const mesh = await startMesh({ ...cryptoOnly, LAUNCHER_GRACE_MS: "1000" });
    meshes.push(mesh);
    const jobs = mesh.pidOf("jobs");
    const others = ["crypto", "gateway"].map((n) => mesh.pidOf(n));
    process.kill(jobs, "SIGSTOP");
    process.kill(mesh.pid, "SIGTERM");
    await exitOf(mesh);
    await waitFor(async () => ([jobs, ...others].every(isGone) ? true : undefined), {
      what: "every child to be gone",
      ms: 20_000,
      retryErrors: true,
    });
  }, 120_000);
});
