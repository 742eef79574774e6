/**
 * A bulkhead for expensive work: at most `concurrency` calls run at once and their weights
 * (memory, say) add up to at most `capacity`. Calls arrive in two lanes: unary callers, served
 * first, and job items (a HandlerContext whose protocol is "job"), which may hold at most
 * `jobConcurrency` of the slots so unary callers always find capacity. Within each lane tenants
 * take turns (round robin), so one tenant's flood of calls or batch of items cannot keep
 * another's waiting behind it. Waiting calls leave when their caller gives up; too many waiting
 * are refused. Every pool of heavy work in the runtime (the sandbox threads, OCR's pages,
 * argon2) runs behind one.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { tenantKey } from "./context.js";
import { watchBulkhead } from "./metrics.js";

/** Options for createBulkhead. */
export interface BulkheadOptions {
  /** Names the guarded work in errors. */
  name: string;
  /** Calls running at once. */
  concurrency: number;
  /** Slots job items may hold; the rest stay for unary callers. @default concurrency - max(1, ⌊concurrency / 4⌋), at least 1 */
  jobConcurrency?: number;
  /** Sum of the weights of the calls running at once. @default Infinity */
  capacity?: number;
  /** Calls waiting at most; beyond that a call is refused with resource_exhausted. @default 10000 */
  maxWaiting?: number;
}

/** What a bulkhead is doing. */
export interface BulkheadStats {
  running: number;
  runningJobs: number;
  weight: number;
  waiting: number;
}

/** The bulkhead. */
export interface Bulkhead {
  /** Runs `work` once a slot (and `weight` of the capacity) is free. */
  run<T>(ctx: HandlerContext, work: () => Promise<T>, weight?: number): Promise<T>;
  stats(): BulkheadStats;
  /** The largest weight one call may have. */
  readonly capacity: number;
}

interface Waiter {
  tenant: string;
  weight: number;
  job: boolean;
  start(): void;
}

/** Waiters by tenant, taken round robin (a tenant that was served goes to the back). */
class FairQueue {
  private readonly byTenant = new Map<string, Waiter[]>();
  size = 0;

  push(w: Waiter) {
    const queue = this.byTenant.get(w.tenant);
    if (queue) queue.push(w);
    else this.byTenant.set(w.tenant, [w]); // a Map iterates in insertion order: the back of the turn
    this.size++;
  }

  /** The waiter whose turn it is. */
  peek(): Waiter | undefined {
    for (const queue of this.byTenant.values()) return queue[0];
    return undefined;
  }

  /** Takes the waiter `peek` gave; its tenant goes to the back of the turn. */
  shift(): Waiter {
    const [tenant, queue] = this.byTenant.entries().next().value as [string, Waiter[]];
    const w = queue.shift()!;
    this.byTenant.delete(tenant);
    if (queue.length > 0) this.byTenant.set(tenant, queue);
    this.size--;
    return w;
  }

  /** Removes a waiter that gave up; false when it is not waiting here. */
  remove(w: Waiter): boolean {
    const queue = this.byTenant.get(w.tenant);
    const at = queue?.indexOf(w) ?? -1;
    if (at < 0) return false;
    queue!.splice(at, 1);
    if (queue!.length === 0) this.byTenant.delete(w.tenant);
    this.size--;
    return true;
  }
}

/** Creates a bulkhead. */
export function createBulkhead(options: BulkheadOptions): Bulkhead {
  const concurrency = Math.max(1, options.concurrency);
  const jobConcurrency = Math.max(
    1,
    Math.min(concurrency, options.jobConcurrency ?? concurrency - Math.max(1, Math.floor(concurrency / 4))),
  );
  const capacity = options.capacity ?? Infinity;
  const maxWaiting = options.maxWaiting ?? 10_000;
  let running = 0;
  let runningJobs = 0;
  let weight = 0;
  const unary = new FairQueue();
  const jobs = new FairQueue();

  const fits = (w: Waiter) =>
    running < concurrency && weight + w.weight <= capacity && (!w.job || runningJobs < jobConcurrency);

  function pump() {
    for (;;) {
      // Unary callers first; a job item never jumps ahead of a waiting unary call.
      const lane = unary.size > 0 ? unary : jobs;
      const next = lane.peek();
      if (!next || !fits(next)) return;
      lane.shift().start();
    }
  }

  const bulkhead: Bulkhead = {
    capacity,
    stats: () => ({ running, runningJobs, weight, waiting: unary.size + jobs.size }),
    run<T>(ctx: HandlerContext, work: () => Promise<T>, w = 0): Promise<T> {
      if (w > capacity) {
        return Promise.reject(
          new ConnectError(
            `${options.name}: a call of weight ${w} is over this service's capacity of ${capacity}`,
            Code.ResourceExhausted,
          ),
        );
      }
      const job = ctx.protocolName === "job";
      const lane = job ? jobs : unary;
      const arrived = performance.now();
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter = {
          tenant: ctx.values.get(tenantKey),
          weight: w,
          job,
          start() {
            recordWait((performance.now() - arrived) / 1000);
            ctx.signal.removeEventListener("abort", onAbort);
            running++;
            weight += w;
            if (job) runningJobs++;
            Promise.resolve()
              .then(work)
              .then(resolve, reject)
              .finally(() => {
                running--;
                weight -= w;
                if (job) runningJobs--;
                pump();
              });
          },
        };
        const onAbort = () => {
          if (!lane.remove(waiter)) return;
          reject(ConnectError.from(ctx.signal.reason ?? new ConnectError("cancelled while waiting", Code.Canceled)));
          pump();
        };
        if (ctx.signal.aborted)
          return reject(ConnectError.from(ctx.signal.reason ?? new ConnectError("cancelled", Code.Canceled)));
        if (fits(waiter) && unary.size === 0 && (job ? jobs.size === 0 : true)) return waiter.start();
        if (unary.size + jobs.size >= maxWaiting) {
          reject(
            new ConnectError(
              `${options.name}: too many calls waiting (${maxWaiting}); retry later`,
              Code.ResourceExhausted,
            ),
          );
          return;
        }
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        lane.push(waiter);
        pump();
      });
    },
  };
  // Its queue depth, running calls and waits, in the process's metrics.
  const recordWait = watchBulkhead(options.name, bulkhead);
  return bulkhead;
}
