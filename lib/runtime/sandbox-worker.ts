/** The worker side of the sandbox (sandbox.ts), kept small: worker threads import only this. */

/** A task as the worker receives it: the caller's data and the flag that reports its start. */
export type SandboxTask<T> = T & { started: Int32Array };

/** Tells the caller the task has started (its time limit begins now). */
export function markStarted(task: { started: Int32Array }): void {
  Atomics.store(task.started, 0, 1);
  Atomics.notify(task.started, 0);
}

/** How a worker answers a task it refuses: the reason, and the request field at fault if not the caller's. */
export interface Refused {
  error: string;
  field?: string;
}
