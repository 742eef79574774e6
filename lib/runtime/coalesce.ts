/**
 * Group commit: calls that arrive while earlier ones are being written wait and go together in
 * the next write. At low load every call is written at once (no timer, no added latency); under
 * load batches grow by themselves, so one statement and one commit serve many callers.
 */

/** Options for createCoalescer. */
export interface CoalescerOptions<In, Out> {
  /** Writes a batch; resolves with one result per input, in order. */
  run(inputs: In[]): Promise<Out[]>;
  /** Batches written at once. Default 1. */
  concurrency?: number;
  /** Largest batch. Default 1,000. */
  maxBatch?: number;
}

/** A coalescer: `call` queues one input and resolves with its result. */
export interface Coalescer<In, Out> {
  call(input: In): Promise<Out>;
  /** Resolves once nothing is queued or being written. */
  idle(): Promise<void>;
}

interface Queued<In, Out> {
  input: In;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

/** Creates a coalescer over `run`. A failed batch fails each of its callers with the error. */
export function createCoalescer<In, Out>(options: CoalescerOptions<In, Out>): Coalescer<In, Out> {
  const concurrency = options.concurrency ?? 1;
  const maxBatch = options.maxBatch ?? 1000;
  let queue: Queued<In, Out>[] = [];
  let running = 0;
  let idleWaiters: (() => void)[] = [];

  const pump = () => {
    while (running < concurrency && queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      running++;
      options
        .run(batch.map((q) => q.input))
        .then(
          (outs) => {
            for (const [i, q] of batch.entries()) q.resolve(outs[i]);
          },
          (err) => {
            for (const q of batch) q.reject(err);
          },
        )
        .finally(() => {
          running--;
          pump();
          if (running === 0 && queue.length === 0) {
            const waiters = idleWaiters;
            idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  };

  return {
    call(input) {
      return new Promise<Out>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        // Calls made in the same tick share the first write.
        if (queue.length === 1) queueMicrotask(pump);
      });
    },
    idle() {
      if (running === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((r) => idleWaiters.push(r));
    },
  };
}
