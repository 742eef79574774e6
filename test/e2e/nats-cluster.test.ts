/**
 * The scale-out path on loopback: three nats-server nodes in one JetStream cluster, the task
 * stream on three replicas (NATS_REPLICAS=3, as the k8s ConfigMap sets it), a 10,000-item batch,
 * and the node leading the stream killed while the batch runs: the mesh carries on and every item
 * is done, exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Mesh, startMesh } from "../support/mesh.js";
import { waitFor } from "../support/until.js";

interface Node {
  name: string;
  client: number;
  monitor: number;
  child: ChildProcess;
}

const nodes: Node[] = [];
let dir: string;
let mesh: Mesh;

/** What a node's monitoring port says of JetStream: its meta group and the task stream's leader. */
async function jsz(
  node: Node,
): Promise<{ meta_cluster?: { leader?: string; cluster_size?: number }; streamLeader?: string }> {
  const res = await fetch(`http://127.0.0.1:${node.monitor}/jsz?accounts=true&streams=true`);
  const body = (await res.json()) as {
    meta_cluster?: { leader?: string; cluster_size?: number };
    account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
  };
  const stream = body.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === "FLOWFORGE_TASKS");
  return { meta_cluster: body.meta_cluster, streamLeader: stream?.cluster?.leader };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "flowforge-nats-"));
  const ports = await Promise.all(Array.from({ length: 9 }, () => freePort()));
  const routes = [0, 1, 2].map((i) => `nats://127.0.0.1:${ports[6 + i]}`).join(",");
  for (const i of [0, 1, 2]) {
    const node = { name: `n${i}`, client: ports[i], monitor: ports[3 + i] };
    const args = [
      "-a",
      "127.0.0.1",
      "-p",
      String(node.client),
      "-m",
      String(node.monitor),
      "-js",
      "-sd",
      join(dir, node.name),
    ];
    args.push(
      "-n",
      node.name,
      "--cluster_name",
      "flowforge",
      "--cluster",
      `nats://127.0.0.1:${ports[6 + i]}`,
      "--routes",
      routes,
    );
    nodes.push({ ...node, child: spawn("nats-server", args, { stdio: "ignore" }) });
  }
  // A meta leader elected over all three nodes.
  await waitFor(
    async () => {
      const meta = (await jsz(nodes[0])).meta_cluster;
      return meta?.leader && meta.cluster_size === 3;
    },
    { ms: 30_000, what: "the JetStream cluster to elect a leader", retryErrors: true },
  );
  mesh = await startMesh({
    FLOWFORGE_CAPABILITIES: "crypto",
    NATS_URL: nodes.map((n) => `nats://127.0.0.1:${n.client}`).join(","),
    NATS_REPLICAS: "3",
  });
});

afterAll(async () => {
  await mesh?.stop();
  for (const n of nodes) n.child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${mesh.adminKey}`, "content-type": "application/json" });
interface Counts {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}
const jobOf = async (id: string) =>
  (
    (await (await fetch(`${mesh.url}/api/v1/jobs/${id}`, { headers: auth() })).json()) as {
      job: { state: string; counts: Counts };
    }
  ).job;

describe("NATS JetStream as a three-node cluster (R3)", () => {
  it("a node killed in the middle of a 10,000-item batch: every item done exactly once", async () => {
    const submitted = await fetch(`${mesh.url}/api/v1/crypto/hash:batch`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({
        items: Array.from({ length: 10_000 }, (_, i) => ({ algorithm: "sha256", text: `n${i}` })),
      }),
    });
    expect(submitted.status).toBe(200);
    const id = ((await submitted.json()) as { job: { id: string } }).job.id;

    // Some of the batch done, most of it not: then the stream's leader goes.
    await waitFor(async () => (await jobOf(id)).counts.succeeded >= 1_000, {
      ms: 120_000,
      what: "a tenth of the batch",
    });
    const leader = (await jsz(nodes[0])).streamLeader ?? "n0";
    const victim = nodes.find((n) => n.name === leader)!;
    victim.child.kill("SIGKILL");
    expect((await jobOf(id)).counts.succeeded).toBeLessThan(10_000);

    const done = await waitFor(
      async () => {
        const job = await jobOf(id);
        return job.state !== "JOB_STATE_RUNNING" && job.state !== "JOB_STATE_QUEUED" && job;
      },
      { ms: 300_000, what: "the batch to finish", retryErrors: true },
    );
    expect(done.state).toBe("JOB_STATE_SUCCEEDED");
    expect(done.counts).toEqual({ total: 10_000, succeeded: 10_000, failed: 0, cancelled: 0 });

    // The survivors still take new work.
    const again = await fetch(`${mesh.url}/api/v1/crypto/hash:batch?wait=60s`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ items: [{ algorithm: "sha256", text: "after" }] }),
    });
    expect(((await again.json()) as { job: { state: string } }).job.state).toBe("JOB_STATE_SUCCEEDED");
  }, 420_000);
});
