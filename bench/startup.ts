/**
 * `npm run bench:startup`: how long `npm start` takes from the command to a healthy `/health`
 * (every process up, on embedded parts, in a fresh data directory, then again in one kept from
 * an earlier start), best and worst of `RUNS`
 * (default 3), and each process's resident memory once idle (`IDLE_SECONDS` after healthy,
 * default 5; nothing called yet, so heavy engines are not loaded), with the CPU each spent until
 * healthy. `CHECKOUT=<dir>` starts another checkout (an older commit, installed) instead.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, root } from "#test/support/mesh.js";
import { catalog } from "../services/catalog.js";
import { size } from "./measure.js";
import { cpuByProcess, rssByProcess } from "./tools/cpu.js";

const runs = size("RUNS", 3, 1);
// Another checkout to start instead of this one (an older commit, for a before/after in one run).
const checkout = process.env.CHECKOUT ?? root;
const idleSeconds = size("IDLE_SECONDS", 5, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `npm start` in `dataDir` (a new one when unset, removed afterwards), returns the seconds
 * until /health said healthy and the idle RSS per process.
 */
async function once(kept?: string): Promise<{ seconds: number; cpu: Map<string, number>; rss: Map<string, number> }> {
  const dataDir = kept ?? (await mkdtemp(join(tmpdir(), "flowforge-startup-")));
  const port = await freePort();
  const started = performance.now();
  const child = spawn("npm", ["start"], {
    cwd: checkout,
    env: { ...process.env, PORT: String(port), FLOWFORGE_DATA_DIR: dataDir, LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true, // its own process group, so everything it started stops with it
  });
  let errors = "";
  child.stderr.on("data", (d) => (errors += d));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${errors}`);
      if (performance.now() - started > 120_000) throw new Error(`not healthy after 120 s:\n${errors}`);
      const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
        async (r) => r.ok && ((await r.json()) as { status: string }).status === "healthy",
        () => false,
      );
      if (healthy) break;
      await sleep(50);
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuByProcess();
    await sleep(idleSeconds * 1000);
    return { seconds, cpu, rss: rssByProcess() };
  } finally {
    if (child.exitCode === null) {
      process.kill(-child.pid!, "SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    if (!kept) await rm(dataDir, { recursive: true, force: true });
  }
}

const results = [];
for (let i = 0; i < runs; i++) results.push(await once());
const range = (rs: { seconds: number }[]) => {
  const times = rs.map((r) => r.seconds).sort((a, b) => a - b);
  return `best ${times[0].toFixed(1)} s, worst ${times[times.length - 1].toFixed(1)} s (${rs.length} runs)`;
};
console.log(`npm start to healthy, new data directory: ${range(results)}`);
// Again in a data directory an earlier start made (the database opened, not copied from the template).
const kept = await mkdtemp(join(tmpdir(), "flowforge-startup-kept-"));
try {
  await once(kept);
  const again = [];
  for (let i = 0; i < runs; i++) again.push(await once(kept));
  console.log(`npm start to healthy, data directory kept: ${range(again)}`);
} finally {
  await rm(kept, { recursive: true, force: true });
}
const last = results[results.length - 1];
const mib = (bytes = 0) => (bytes / 2 ** 20).toFixed(0).padStart(5);
console.log("process     idle RSS (MiB)  CPU until healthy (ms)");
for (const name of [...Object.keys(catalog), "gateway", "launcher"])
  console.log(`  ${name.padEnd(10)} ${mib(last.rss.get(name))}  ${String(last.cpu.get(name) ?? 0).padStart(20)}`);
