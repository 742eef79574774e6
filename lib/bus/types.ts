/**
 * The job bus: durable task queues with ack / redelivery / dead-letter semantics, plus
 * fire-and-forget notifications. Three adapters with the same file names: `memory/` (embedded,
 * in-process), `remote/` (the jobs process's in-process bus over gRPC) and `jetstream/` (NATS
 * JetStream); one contract test suite runs against all three.
 */
import type { Task as TaskMessage } from "#gen/flowforge/bus/v1/bus_pb.js";

/** One unit of work: one item of a job (the fields of flowforge.bus.v1.Task, declared once in bus.proto). */
export type Task = Omit<TaskMessage, "$typeName" | "$unknown">;

/** The bus-wide dedupe id of a task: publishing it twice queues it once. */
export const taskId = (t: Pick<Task, "jobId" | "index">) => `${t.jobId}:${t.index}`;

/** A task handed to a consumer. Exactly one of ack, nak and term settles it. */
export interface Delivery {
  task: Task;
  /** 1 on first delivery, 2 on the first redelivery, ... */
  attempt: number;
  /** Done: never deliver again. */
  ack(): void;
  /** Failed for now: deliver again after `delayMs`. */
  nak(delayMs: number): void;
  /** Failed for good: never deliver again. */
  term(): void;
  /** Still working: push the redelivery deadline back. */
  working(): void;
}

/** Options for consuming a capability's tasks. */
export interface ConsumeOptions {
  /** Tasks handled at once by this consumer. */
  concurrency: number;
  /** A delivery not settled within this is redelivered (unless `working()` is called). */
  ackWaitMs: number;
}

/** A running consumer. */
export interface Consumer {
  /** Stops taking tasks and waits for those in hand to settle. */
  stop(): Promise<void>;
}

/** The bus. */
export interface JobBus {
  /** Durably enqueues tasks; resolves when the bus has them. Duplicates (same taskId) queue once. */
  publish(tasks: Task[]): Promise<void>;
  /** Consumes a capability's tasks; each handler call must settle its delivery. */
  consume(
    capability: string,
    handler: (delivery: Delivery) => Promise<void>,
    options: ConsumeOptions,
  ): Promise<Consumer>;
  /** Sends a notification to every current subscriber of `topic`; not stored. */
  notify(topic: string, data: Uint8Array): void;
  /** Receives notifications on `topic` (`*` matches one dot-separated token). */
  subscribe(topic: string, listener: (topic: string, data: Uint8Array) => void): () => void;
  /** Resolves once every subscription made so far is in effect: notifications sent from anywhere after it reach them. */
  flush(): Promise<void>;
  /** Closes connections; consumers should be stopped first. */
  close(): Promise<void>;
}
