/** The worker side of the sandbox (sandbox.ts), kept small: worker threads import only this. */
import type { MessagePort } from "node:worker_threads";

/** A task as the worker receives it: the caller's data and the port to report its start on. */
export type SandboxTask<T> = T & { started: MessagePort };

/** Tells the caller the task has started (its time limit begins now). */
export function markStarted(task: { started: MessagePort }): void {
  task.started.postMessage("started");
  task.started.close();
}
