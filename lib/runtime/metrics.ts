/**
 * The Prometheus metrics of a FlowForge process (prom-client's registry of the process): the
 * process itself (CPU, RSS, event-loop lag, GC, handles), the gRPC calls it serves (RED per
 * method, calls in flight), its bulkheads (queue depth, running, waits), its job workers (items
 * by outcome, item latency, retries, dead letters) and what a process adds for itself (the jobs
 * process: queue depth and outbox age). Every series carries `service` (the process's name).
 * Served by metrics-server.ts on `METRICS_PORT`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, register } from "prom-client";

/** What the metrics read of a bulkhead (bulkhead.ts reports itself here). */
interface WatchedBulkhead {
  stats(): { waiting: number; running: number };
}

/** The process's registry. */
export const metricsRegistry = register;

/** Latency buckets in seconds, from a cached hash to an OCR page. */
const secondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

let started = false;

/** Names the process in every series and starts the process metrics; once per process. */
export function startProcessMetrics(service: string): void {
  if (started) return;
  started = true;
  metricsRegistry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: metricsRegistry, prefix: "flowforge_", eventLoopMonitoringPrecision: 20 });
}

const handled = new Counter({
  name: "flowforge_grpc_server_handled_total",
  help: "gRPC calls this process answered, by method and status code.",
  labelNames: ["method", "code"],
});
const handling = new Histogram({
  name: "flowforge_grpc_server_handling_seconds",
  help: "Time from a gRPC call's arrival to its answer (streams: to their end), by method.",
  labelNames: ["method"],
  buckets: secondsBuckets,
});
const inFlight = new Gauge({
  name: "flowforge_grpc_server_in_flight",
  help: "gRPC calls being answered now, by method.",
  labelNames: ["method"],
});

/** The series of one method, looked up once. */
interface MethodSeries {
  handling: { observe(seconds: number): void };
  inFlight: { inc(): void; dec(): void };
  codes: Map<string, { inc(): void }>;
  method: string;
}
const methods = new Map<string, MethodSeries>();

/**
 * Counts a served call from now: returns what to call once it is answered, with its status code
 * name (`OK`, `INVALID_ARGUMENT`, ...).
 */
export function observeCall(method: string): (code: string) => void {
  let s = methods.get(method);
  if (!s) {
    s = { method, handling: handling.labels({ method }), inFlight: inFlight.labels({ method }), codes: new Map() };
    methods.set(method, s);
  }
  const series = s;
  series.inFlight.inc();
  const begun = performance.now();
  return (code) => {
    series.inFlight.dec();
    series.handling.observe((performance.now() - begun) / 1000);
    let counter = series.codes.get(code);
    if (!counter) {
      counter = handled.labels({ method: series.method, code });
      series.codes.set(code, counter);
    }
    counter.inc();
  };
}

const bulkheads = new Map<string, WatchedBulkhead>();
const bulkheadWait = new Histogram({
  name: "flowforge_bulkhead_wait_seconds",
  help: "Time a call waited for a slot of a bulkhead, by bulkhead.",
  labelNames: ["bulkhead"],
  buckets: secondsBuckets,
});
new Gauge({
  name: "flowforge_bulkhead_waiting",
  help: "Calls waiting for a slot of a bulkhead (its queue depth).",
  labelNames: ["bulkhead"],
  collect() {
    for (const [name, b] of bulkheads) this.set({ bulkhead: name }, b.stats().waiting);
  },
});
new Gauge({
  name: "flowforge_bulkhead_running",
  help: "Calls holding a slot of a bulkhead.",
  labelNames: ["bulkhead"],
  collect() {
    for (const [name, b] of bulkheads) this.set({ bulkhead: name }, b.stats().running);
  },
});

/** Reports a bulkhead's queue and slots; returns how to record one call's wait for a slot. */
export function watchBulkhead(name: string, bulkhead: WatchedBulkhead): (seconds: number) => void {
  bulkheads.set(name, bulkhead);
  const series = bulkheadWait.labels({ bulkhead: name });
  return (seconds) => series.observe(seconds);
}

const items = new Counter({
  name: "flowforge_job_items_total",
  help: "Job items this process's workers settled or sent back, by method and outcome (succeeded, failed, dead_lettered, retried).",
  labelNames: ["method", "outcome"],
});
const itemSeconds = new Histogram({
  name: "flowforge_job_item_seconds",
  help: "Time a job worker ran an item's handler, by method.",
  labelNames: ["method"],
  buckets: secondsBuckets,
});

/** Records one run of a job item: its method, outcome and how long the handler ran. */
export function recordItem(
  method: string,
  outcome: "succeeded" | "failed" | "dead_lettered" | "retried",
  seconds: number,
) {
  items.inc({ method, outcome });
  itemSeconds.observe({ method }, seconds);
}

const spansDropped = new Counter({
  name: "flowforge_trace_spans_dropped_total",
  help: "Spans dropped because the trace exporter's queue was full (the OTLP endpoint down or slow).",
});

/** Counts spans the trace exporter dropped. */
export function countDroppedSpans(n: number): void {
  spansDropped.inc(n);
}

/**
 * A gauge whose value is read when Prometheus scrapes (a queue's depth, the outbox's age): `read`
 * returns the value per label set; a failing read leaves the series out of that scrape. Made
 * again (a second instance in one process, as tests make), the newest one reads.
 */
export function gaugeOnScrape(options: {
  name: string;
  help: string;
  labelNames?: string[];
  read: () => Promise<{ labels?: Record<string, string>; value: number }[]>;
}): void {
  metricsRegistry.removeSingleMetric(options.name);
  new Gauge({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    async collect() {
      this.reset();
      try {
        for (const { labels, value } of await options.read()) this.set(labels ?? {}, value);
      } catch {
        // unknown this time (the database or bus is away): no value rather than a wrong one
      }
    },
  });
}
