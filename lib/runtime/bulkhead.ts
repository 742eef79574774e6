/**
 * A bulkhead for expensive handlers: at most `concurrency` calls run at once and their weights
 * (memory, say) add up to at most `capacity`. Calls arrive in two lanes: unary callers, served
 * first, and job items (a HandlerContext whose protocol is "job"), which may hold at most
 * `jobConcurrency` of the slots so unary callers always find capacity, and which are taken
 * round robin across tenants so one tenant's batch cannot keep another's items waiting behind
 * it. Waiting calls leave when their caller gives up; too many waiting are refused.
 */
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { tenantKey } from "./context.js";

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
  weight: number;
  job: boolean;
  start(): void;
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
  const unary: Waiter[] = [];
  // Job items waiting, by tenant; `tenants` is the round-robin order.
  const jobs = new Map<string, Waiter[]>();
  let tenants: string[] = [];
  let waiting = 0;

  const fits = (w: Waiter) =>
    running < concurrency && weight + w.weight <= capacity && (!w.job || runningJobs < jobConcurrency);

  function pump() {
    for (;;) {
      if (unary.length > 0) {
        // Unary callers first; a job item never jumps ahead of a waiting unary call.
        if (!fits(unary[0])) return;
        waiting--;
        unary.shift()!.start();
        continue;
      }
      const tenant = tenants[0];
      if (tenant === undefined) return;
      const queue = jobs.get(tenant)!;
      if (!fits(queue[0])) return;
      waiting--;
      queue.shift()!.start();
      tenants = tenants.slice(1);
      if (queue.length > 0) tenants.push(tenant);
      else jobs.delete(tenant);
    }
  }

  return {
    capacity,
    stats: () => ({ running, runningJobs, weight, waiting }),
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
      return new Promise<T>((resolve, reject) => {
        const waiter: Waiter = {
          weight: w,
          job,
          start() {
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
          const queue = job ? jobs.get(ctx.values.get(tenantKey)) : unary;
          const at = queue?.indexOf(waiter) ?? -1;
          if (at < 0) return;
          queue!.splice(at, 1);
          waiting--;
          if (job && queue!.length === 0) {
            jobs.delete(ctx.values.get(tenantKey));
            tenants = tenants.filter((t) => t !== ctx.values.get(tenantKey));
          }
          reject(ConnectError.from(ctx.signal.reason ?? new ConnectError("cancelled while waiting", Code.Canceled)));
          pump();
        };
        if (ctx.signal.aborted)
          return reject(ConnectError.from(ctx.signal.reason ?? new ConnectError("cancelled", Code.Canceled)));
        if (fits(waiter) && unary.length === 0 && (job ? tenants.length === 0 : true)) return waiter.start();
        if (waiting >= maxWaiting) {
          reject(
            new ConnectError(
              `${options.name}: too many calls waiting (${maxWaiting}); retry later`,
              Code.ResourceExhausted,
            ),
          );
          return;
        }
        waiting++;
        ctx.signal.addEventListener("abort", onAbort, { once: true });
        if (job) {
          const tenant = ctx.values.get(tenantKey);
          const queue = jobs.get(tenant);
          if (queue) queue.push(waiter);
          else {
            jobs.set(tenant, [waiter]);
            tenants.push(tenant);
          }
        } else unary.push(waiter);
        pump();
      });
    },
  };
}
