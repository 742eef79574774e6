/**
 * The embedded job bus: in-process queues with the JetStream semantics the workers rely on
 * (dedupe by task id, ack wait with `working()`, nak with delay, term, delivery counts). Each
 * capability's ready tasks are kept per tenant and handed out round robin, so one tenant's large
 * batch does not keep another tenant's tasks waiting behind it.
 */
import { taskId, type Consumer, type ConsumeOptions, type Delivery, type JobBus, type Task } from "../types.js";

interface Entry {
  task: Task;
  attempt: number;
}

/** Ready tasks by tenant, taken round robin. */
class FairQueue {
  private readonly byTenant = new Map<string, Entry[]>();
  private order: string[] = [];
  size = 0;

  push(entry: Entry) {
    const tenant = entry.task.tenant;
    const queue = this.byTenant.get(tenant);
    if (queue) queue.push(entry);
    else {
      this.byTenant.set(tenant, [entry]);
      this.order.push(tenant);
    }
    this.size++;
  }

  shift(): Entry | undefined {
    const tenant = this.order.shift();
    if (tenant === undefined) return undefined;
    const queue = this.byTenant.get(tenant)!;
    const entry = queue.shift()!;
    if (queue.length > 0) this.order.push(tenant);
    else this.byTenant.delete(tenant);
    this.size--;
    return entry;
  }
}

interface Queue {
  ready: FairQueue;
  delayed: Set<ReturnType<typeof setTimeout>>;
  /** Each running consumer's pump: every one is told when a task is ready. */
  consumers: Set<() => void>;
}

/** Options for createMemoryBus. */
export interface MemoryBusOptions {
  /** How long a published task id is remembered for dedupe. Default 2 minutes. */
  duplicateWindowMs?: number;
}

function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split(".");
  const t = topic.split(".");
  if (p[p.length - 1] === ">")
    return t.length >= p.length - 1 && p.slice(0, -1).every((s, i) => s === "*" || s === t[i]);
  return p.length === t.length && p.every((s, i) => s === "*" || s === t[i]);
}

/** Creates an in-process bus. */
export function createMemoryBus(options: MemoryBusOptions = {}): JobBus {
  const windowMs = options.duplicateWindowMs ?? 120_000;
  const queues = new Map<string, Queue>();
  const seen = new Map<string, number>();
  const listeners = new Set<{ topic: string; listener: (topic: string, data: Uint8Array) => void }>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const queue = (capability: string): Queue => {
    let q = queues.get(capability);
    if (!q) {
      q = { ready: new FairQueue(), delayed: new Set(), consumers: new Set() };
      queues.set(capability, q);
    }
    return q;
  };
  const wake = (q: Queue) => {
    for (const pump of q.consumers) {
      if (q.ready.size === 0) return;
      pump();
    }
  };
  const enqueue = (entry: Entry, delayMs = 0) => {
    const q = queue(entry.task.capability);
    if (delayMs <= 0) {
      q.ready.push(entry);
      wake(q);
      return;
    }
    const timer = setTimeout(() => {
      q.delayed.delete(timer);
      timers.delete(timer);
      q.ready.push(entry);
      wake(q);
    }, delayMs);
    q.delayed.add(timer);
    timers.add(timer);
  };

  return {
    async publish(tasks) {
      const now = Date.now();
      for (const [id, at] of seen) if (now - at > windowMs) seen.delete(id);
      for (const task of tasks) {
        const id = taskId(task);
        if (seen.has(id)) continue;
        seen.set(id, now);
        enqueue({ task, attempt: 0 });
      }
    },

    async consume(capability, handler, opts: ConsumeOptions): Promise<Consumer> {
      const q = queue(capability);
      let running = 0;
      let stopped = false;
      const inFlight = new Set<Promise<void>>();

      const deliver = (entry: Entry) => {
        entry.attempt++;
        let settled = false;
        let timer: ReturnType<typeof setTimeout>;
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => settle(() => enqueue(entry)), opts.ackWaitMs);
        };
        const settle = (then: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          running--;
          then();
          pump();
        };
        const delivery: Delivery = {
          task: entry.task,
          attempt: entry.attempt,
          ack: () => settle(() => {}),
          term: () => settle(() => {}),
          nak: (delayMs) => settle(() => enqueue(entry, delayMs)),
          working: () => !settled && arm(),
        };
        running++;
        arm();
        const p = handler(delivery).catch(() => delivery.nak(1000));
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      };

      const pump = () => {
        while (!stopped && running < opts.concurrency && q.ready.size > 0) deliver(q.ready.shift()!);
      };
      q.consumers.add(pump);
      pump();
      return {
        async stop() {
          // At once, before the first await: what is given back from here on goes to the others.
          stopped = true;
          q.consumers.delete(pump);
          await Promise.allSettled([...inFlight]);
        },
      };
    },

    notify(topic, data) {
      for (const l of listeners) if (topicMatches(l.topic, topic)) queueMicrotask(() => l.listener(topic, data));
    },

    subscribe(topic, listener) {
      const entry = { topic, listener };
      listeners.add(entry);
      return () => listeners.delete(entry);
    },

    async flush() {
      // Subscriptions take effect at once in process.
    },

    async close() {
      for (const t of timers) clearTimeout(t);
      listeners.clear();
    },
  };
}
