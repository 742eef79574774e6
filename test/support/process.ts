/** Starting one of our processes (the launcher, a service, the gateway) as `node --import tsx <entry>`. */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A started process and its output. */
export interface Started {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Options for startProcess. */
export interface StartOptions {
  /** Drop stdout. */
  quiet?: boolean;
  /** Run under this open-file limit (`ulimit -n`), inherited by the process's own children. */
  openFiles?: number;
  /** The checkout to run from. @default this repository */
  root?: string;
  /**
   * Run the compiled JavaScript in dist/ (as `npm start` does) instead of the sources through tsx.
   * @default whether FLOWFORGE_TEST_COMPILED is 1
   */
  compiled?: boolean;
}

/** Forks `entry` and waits (up to 120 s) for its `{ type: "ready", port }` IPC message. */
export async function startProcess(
  entry: string,
  env: NodeJS.ProcessEnv,
  options: StartOptions = {},
): Promise<Started> {
  let out = "";
  const stdio = ["ignore", options.quiet ? "ignore" : "pipe", "pipe", "ipc"] as const;
  const spawnEnv = { ...process.env, ...env };
  const cwd = options.root ?? root;
  // FLOWFORGE_TEST_COMPILED=1 runs every test's processes compiled (the bundles npm start runs).
  const compiled = options.compiled ?? process.env.FLOWFORGE_TEST_COMPILED === "1";
  const file = compiled ? join("dist", entry.replace(/\.ts$/, ".js")) : entry;
  const loader = compiled ? [] : ["--import", "tsx"];
  // Under a lower descriptor limit: a shell sets it and execs node, keeping the IPC channel.
  const child =
    options.openFiles === undefined
      ? fork(join(cwd, file), [], { cwd, execArgv: loader, env: spawnEnv, stdio: [...stdio] })
      : spawn(
          "/bin/sh",
          ["-c", `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, ...loader, join(cwd, file)],
          {
            cwd,
            env: spawnEnv,
            stdio: [...stdio],
          },
        );
  child.stdout?.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    // Generous: a mesh starting while other suites load both cores can take a minute.
    const timer = setTimeout(() => reject(new Error(`${entry} did not report ready:\n${out}`)), 120_000);
    child.on("message", (m: { type?: string; port?: number }) => {
      if (m?.type === "ready") {
        clearTimeout(timer);
        resolve(m.port!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    port,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
