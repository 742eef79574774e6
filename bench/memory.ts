/**
 * `npm run bench:memory`: the gateway's memory under sustained load and after it. RSS (and V8's
 * heap) read from the gateway's own /metrics before, every few seconds during 60 s of REST Hash at
 * 8 connections × 16 streams, and at idle after it. Bounded means the figures level off during the
 * load; released means RSS falls back toward where it started once the load ends.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMesh } from "#test/support/mesh.js";
import { h2load } from "./h2load.js";
import { size } from "./measure.js";

const seconds = size("BENCH_MEMORY_SECONDS", 60, 4);
const idleSeconds = size("BENCH_MEMORY_IDLE_SECONDS", 20, 2);
// The capabilities measured (with the jobs service), not all eleven processes.
const mesh = await startMesh({ LOG_LEVEL: "warn", FLOWFORGE_CAPABILITIES: "crypto" });
const auth = { authorization: `Bearer ${mesh.adminKey}` };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The gateway's RSS and heap in MiB, from its Prometheus metrics. */
async function memory(): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${mesh.url}/metrics`, { headers: auth })).text();
  const read = (name: string) => {
    const m = new RegExp(`^flowforge_gateway_${name}(?:\\{[^}]*\\})? ([\\d.e+]+)$`, "m").exec(text);
    if (!m) throw new Error(`the gateway's /metrics has no ${name}`);
    return Number(m[1]) / 2 ** 20;
  };
  return { rss: read("process_resident_memory_bytes"), heap: read("nodejs_heap_size_used_bytes") };
}

try {
  const body = join(tmpdir(), `ff-mem-${process.pid}.json`);
  await writeFile(body, JSON.stringify({ algorithm: "sha256", text: "x".repeat(58) }));
  const check = await fetch(`${mesh.url}/api/v1/crypto/hash`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ algorithm: "sha256", text: "abc" }),
  });
  const { digest } = (await check.json()) as { digest: string };
  if (digest !== "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") throw new Error("wrong digest");
  const before = await memory();
  const samples: { at: number; rss: number; heap: number }[] = [];
  const started = performance.now();
  const load = h2load({
    url: `${mesh.url}/api/v1/crypto/hash`,
    bodyFile: body,
    headers: { "content-type": "application/json", ...auth },
    clients: 8,
    streams: 16,
    seconds,
    warmupSeconds: 0,
  });
  let done = false;
  void load.finally(() => (done = true));
  while (!done) {
    await sleep(Math.min(5000, (seconds * 1000) / 4));
    if (!done) samples.push({ at: (performance.now() - started) / 1000, ...(await memory()) });
  }
  const result = await load;
  if (result.failed > 0) throw new Error(`${result.failed} requests failed`);
  const end = await memory();
  await sleep(idleSeconds * 1000);
  const idle = await memory();
  const mib = (n: number) => `${Math.round(n)} MiB`;
  console.log(
    `\nGateway memory, REST Hash at 8 x 16 streams for ${seconds} s (${Math.round(result.reqPerSec)} req/s)\n`,
  );
  console.log("| when | RSS | V8 heap used |\n| --- | ---: | ---: |");
  console.log(`| before | ${mib(before.rss)} | ${mib(before.heap)} |`);
  for (const s of samples) console.log(`| during, ${s.at.toFixed(0)} s | ${mib(s.rss)} | ${mib(s.heap)} |`);
  console.log(`| at the end | ${mib(end.rss)} | ${mib(end.heap)} |`);
  console.log(`| ${idleSeconds} s idle after | ${mib(idle.rss)} | ${mib(idle.heap)} |`);
  const peak = Math.max(...samples.map((s) => s.rss), end.rss);
  console.log(
    `\npeak RSS / before: ${(peak / before.rss).toFixed(2)}; idle after / before: ${(idle.rss / before.rss).toFixed(2)}\n`,
  );
} finally {
  await mesh.stop();
}
