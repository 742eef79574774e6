/**
 * Supervises the processes of `npm start`: forks each entry (`node --import tsx`), waits for its
 * `ready` message, restarts a crashed one with exponential backoff for as long as it takes (the
 * consecutive-crash count resets once a process has stayed up for a healthy period), reports
 * every change, and on stop sends SIGTERM, waits the grace period and SIGKILLs what is left, so
 * stopping always ends.
 */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Logger } from "#runtime/logger.js";
import { backoff } from "#runtime/backoff.js";
import { loaderArgs, modulePath } from "#runtime/code.js";

/** A process to run. */
export interface ChildSpec {
  /** Names the process in logs and in the state report. */
  name: string;
  /** Entry point, relative to the supervisor's root. */
  entry: string;
  /** Arguments after the entry. */
  args?: string[];
  env: NodeJS.ProcessEnv;
}

/** What the supervisor reports of one process. */
export interface ProcessState {
  name: string;
  /** starting: forked, not ready yet; running: ready; restarting: waiting out its backoff; stopped. */
  state: "starting" | "running" | "restarting" | "stopped";
  pid?: number;
  /** Where it serves Prometheus metrics, if it does. */
  metricsPort?: number;
  /** Restarts since the supervisor began. */
  restarts: number;
  /** Crashes since the process was last up for the healthy period (drives the backoff). */
  crashes: number;
  /** How the last run ended, if one did. */
  lastExit?: { code: number | null; signal: string | null; at: string };
}

/** Options for createSupervisor. */
export interface SupervisorOptions {
  logger: Logger;
  /** Folder the entries are relative to. */
  root: string;
  /** Delay before the first restart; doubles with each consecutive crash. @default 500 */
  backoffMs?: number;
  /** Longest delay between restarts. @default 30_000 */
  maxBackoffMs?: number;
  /** A process up this long has its consecutive-crash count reset. @default 60_000 */
  healthyAfterMs?: number;
  /** After SIGTERM, how long a process may take to exit before it is SIGKILLed. @default 15_000 */
  graceMs?: number;
  /** Crashes before the first `ready` that make `start` fail (a process that cannot start). @default 3 */
  startupAttempts?: number;
  /** Called with every process's state whenever one changes. */
  onChange?: (states: ProcessState[]) => void;
}

interface Supervised {
  spec: ChildSpec;
  status: ProcessState;
  child?: ChildProcess;
  exited?: Promise<void>;
  restartTimer?: ReturnType<typeof setTimeout>;
  healthyTimer?: ReturnType<typeof setTimeout>;
  everReady: boolean;
  /** Settles the start() promise of a process not yet ready once. */
  startup?: { resolve(port: number): void; reject(err: Error): void };
}

/** The supervisor. */
export interface Supervisor {
  /**
   * Starts a process; resolves with the port it reports once ready, rejects if it cannot start
   * (`startupAttempts` crashes). A process restarted later is given that port again (`PORT`).
   */
  start(spec: ChildSpec): Promise<number>;
  /** Every process's state. */
  states(): ProcessState[];
  /** Sends an IPC message to a running process of that name. */
  send(name: string, message: unknown): void;
  /** Stops every process at once: SIGTERM, then SIGKILL for any still running after the grace period. */
  stop(): Promise<void>;
}

const alive = (child?: ChildProcess) => child !== undefined && child.exitCode === null && child.signalCode === null;

/** Creates a supervisor. */
export function createSupervisor(options: SupervisorOptions): Supervisor {
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const healthyAfterMs = options.healthyAfterMs ?? 60_000;
  const graceMs = options.graceMs ?? 15_000;
  const startupAttempts = options.startupAttempts ?? 3;
  const processes = new Map<string, Supervised>();
  let stopping = false;

  const states = () => [...processes.values()].map((p) => ({ ...p.status }));
  const changed = () => options.onChange?.(states());

  function spawn(p: Supervised) {
    const child = fork(join(options.root, modulePath(p.spec.entry)), p.spec.args ?? [], {
      execArgv: loaderArgs,
      env: p.spec.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    p.child = child;
    p.status = { ...p.status, state: "starting", pid: child.pid };
    p.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    child.on("message", (msg: { type?: string; port?: number; metricsPort?: number }) => {
      if (msg?.type !== "ready" || p.child !== child) return;
      p.everReady = true;
      p.status = { ...p.status, state: "running", ...(msg.metricsPort ? { metricsPort: msg.metricsPort } : {}) };
      // Restarts bind the ports the process chose, which the others (and Prometheus) were told.
      if (msg.port) p.spec = { ...p.spec, env: { ...p.spec.env, PORT: String(msg.port) } };
      if (msg.metricsPort) p.spec = { ...p.spec, env: { ...p.spec.env, METRICS_PORT: String(msg.metricsPort) } };
      p.startup?.resolve(msg.port ?? 0);
      p.startup = undefined;
      clearTimeout(p.healthyTimer);
      p.healthyTimer = setTimeout(() => {
        if (p.child === child && p.status.crashes > 0) {
          p.status = { ...p.status, crashes: 0 };
          options.logger.info({ process: p.spec.name }, "process healthy again; crash count reset");
          changed();
        }
      }, healthyAfterMs);
      p.healthyTimer.unref();
      changed();
    });
    child.once("exit", (code, signal) => {
      if (p.child !== child) return;
      clearTimeout(p.healthyTimer);
      const lastExit = { code, signal, at: new Date().toISOString() };
      if (stopping) {
        p.status = { ...p.status, state: "stopped", pid: undefined, lastExit };
        return;
      }
      const crashes = p.status.crashes + 1;
      const delay = backoff(crashes, backoffMs, maxBackoffMs);
      p.status = { ...p.status, state: "restarting", pid: undefined, crashes, lastExit };
      options.logger.error(
        { process: p.spec.name, code, signal, crashes, restartInMs: delay },
        "process exited; restarting",
      );
      if (!p.everReady && crashes >= startupAttempts) {
        p.status = { ...p.status, state: "stopped" };
        p.startup?.reject(new Error(`${p.spec.name} exited ${crashes} times before it was ready`));
        p.startup = undefined;
        changed();
        return;
      }
      p.restartTimer = setTimeout(() => {
        p.restartTimer = undefined;
        if (stopping) return;
        p.status = { ...p.status, restarts: p.status.restarts + 1 };
        spawn(p);
        changed();
      }, delay);
      changed();
    });
  }

  async function stopOne(p: Supervised) {
    clearTimeout(p.restartTimer);
    clearTimeout(p.healthyTimer);
    if (!alive(p.child)) {
      p.status = { ...p.status, state: "stopped", pid: undefined };
      return;
    }
    const child = p.child!;
    child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        options.logger.warn({ process: p.spec.name, graceMs }, "process did not stop in time; killing it");
        child.kill("SIGKILL");
        resolve();
      }, graceMs);
    });
    await Promise.race([p.exited, killed.then(() => p.exited)]);
    clearTimeout(timer);
  }

  return {
    start(spec) {
      const p: Supervised = {
        spec,
        status: { name: spec.name, state: "starting", restarts: 0, crashes: 0 },
        everReady: false,
      };
      processes.set(spec.name, p);
      const ready = new Promise<number>((resolve, reject) => {
        p.startup = { resolve, reject };
      });
      spawn(p);
      changed();
      return ready;
    },
    states,
    send(name, message) {
      const p = processes.get(name);
      if (alive(p?.child) && p!.child!.connected) p!.child!.send(message as object, () => {});
    },
    async stop() {
      stopping = true;
      for (const p of processes.values()) p.startup?.reject(new Error("stopping"));
      await Promise.all([...processes.values()].map(stopOne));
    },
  };
}
