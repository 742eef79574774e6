/** CPU time so far of the processes on this machine, in milliseconds, grouped by role. */
import { readFileSync, readdirSync } from "node:fs";

const roles: [string, (cmd: string) => boolean][] = [
  ["gateway", (c) => c.includes("gateway/main")],
  ["launcher", (c) => /scripts\/start\.[jt]s/.test(c)],
  ["postgres", (c) => c.startsWith("postgres")],
  ["nats", (c) => c.includes("nats-server")],
  ["h2load", (c) => c.startsWith("h2load")],
  ["bench", (c) => c.includes("bench/tools/")],
  ["nginx", (c) => c.startsWith("nginx")],
  ["h2-proxy", (c) => c.includes("h2-proxy")],
];

/** The sum of `read(pid)` over the live processes of each role; one that exits while read drops out. */
function byRole(read: (pid: string) => number): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ");
      // A capability's process is `services/main.{ts,js} <name>`.
      const capability = /services\/main\.[jt]s (\S+)/.exec(cmd)?.[1];
      const role = capability ?? roles.find(([, test]) => test(cmd))?.[0] ?? "other";
      const value = read(p);
      m.set(role, (m.get(role) ?? 0) + value);
    } catch {
      // the process exited while being read
    }
  }
  return m;
}

/** Live processes only: one that exited between two samples drops out. */
export function cpuByProcess(): Map<string, number> {
  return byRole((p) => {
    const stat = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(stat[11]) + Number(stat[12])) * 10; // utime + stime, in 10 ms ticks
  });
}

/** Resident memory of each role's processes now, in bytes. */
export function rssByProcess(): Map<string, number> {
  return byRole((p) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0) * 1024);
}

/** Prints the CPU each role spent per unit of work between two samples, and how busy the cores were. */
export function reportCpu(
  before: Map<string, number>,
  after: Map<string, number>,
  units: number,
  unit: string,
  elapsedMs: number,
) {
  let total = 0;
  for (const [role, ms] of after) {
    const spent = ms - (before.get(role) ?? 0);
    total += spent;
    if (spent > 0) console.log(role.padEnd(10), ((spent / units) * 1000).toFixed(0).padStart(6), `µs/${unit}`);
  }
  console.log(
    "total".padEnd(10),
    ((total / units) * 1000).toFixed(0).padStart(6),
    `µs/${unit}, cores busy`,
    (total / elapsedMs).toFixed(2),
  );
}
