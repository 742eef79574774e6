/** A sandbox worker for the sandbox's tests: tasks that answer, wait on a gate, run out of memory, exit or spin. */
import { markStarted, type SandboxTask } from "../sandbox-worker.js";

/** What the tests send. `log` records start order: log[0] counts, log[1..] are the tasks' ids. */
export type FixtureTask =
  | { kind: "echo"; id: number; log?: Int32Array }
  | { kind: "gate"; id: number; log: Int32Array; gate: Int32Array }
  | { kind: "oom" }
  | { kind: "exit" }
  | { kind: "spin" }
  | { kind: "oom-late"; started: Int32Array };

export default function run(task: SandboxTask<FixtureTask>): unknown {
  markStarted(task);
  switch (task.kind) {
    case "echo":
    case "gate":
      if (task.log) task.log[1 + Atomics.add(task.log, 0, 1)] = task.id;
      if (task.kind === "gate") Atomics.wait(task.gate, 0, 0);
      return { id: task.id };
    case "oom": {
      const hold: number[][] = [];
      for (;;) hold.push(new Array(1_000_000).fill(hold.length));
    }
    case "exit":
      process.exit(3);
      break;
    case "spin":
      for (;;);
    case "oom-late": {
      // Answers at once, then runs out of memory outside any task (as a terminated thread can).
      setTimeout(() => {
        const hold: number[][] = [];
        for (;;) hold.push(new Array(1_000_000).fill(hold.length));
      }, 0);
      return { id: 0 };
    }
  }
}
