/** The bulkhead: slots, weights, unary callers before job items, tenants taken in turn, callers who leave. */
import { describe, expect, it } from "vitest";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { createBulkhead } from "../bulkhead.js";
import { tenantKey } from "../context.js";

function context(kind: "unary" | "job", tenant = "t", signal = new AbortController().signal): HandlerContext {
  return {
    protocolName: kind === "job" ? "job" : "connect",
    signal,
    values: createContextValues().set(tenantKey, tenant),
  } as unknown as HandlerContext;
}

/** Work that finishes when told to, recording its start. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  const work = async () => {
    log.push(name);
    await done;
    return name;
  };
  return { work, open };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/**
 * Submits `calls` ([tenant, name]) of one kind to a bulkhead that runs one of them at a time, and
 * finishes each once it has started, until all have run; answers the order they started in.
 */
async function oneAtATime(
  b: ReturnType<typeof createBulkhead>,
  kind: "unary" | "job",
  calls: readonly (readonly [string, string])[],
): Promise<string[]> {
  const log: string[] = [];
  const running = calls.map(([tenant, name]) => {
    const g = gate(log, name);
    return { name, open: g.open, done: b.run(context(kind, tenant), g.work) };
  });
  for (let i = 0; i < running.length; i++) {
    await tick();
    const current = running.find((x) => x.name === log[log.length - 1])!;
    current.open();
    await current.done;
  }
  return log;
}

describe("bulkhead", () => {
  it("runs at most `concurrency` at once and starts the next when one ends", async () => {
    const b = createBulkhead({ name: "t", concurrency: 2 });
    const log: string[] = [];
    const gates = ["a", "b", "c"].map((n) => gate(log, n));
    const results = gates.map((g) => b.run(context("unary"), g.work));
    await tick();
    expect(log).toEqual(["a", "b"]);
    gates[0].open();
    expect(await results[0]).toBe("a");
    await tick();
    expect(log).toEqual(["a", "b", "c"]);
    gates[1].open();
    gates[2].open();
    expect(await Promise.all(results)).toEqual(["a", "b", "c"]);
    expect(b.stats()).toEqual({ running: 0, runningJobs: 0, weight: 0, waiting: 0 });
  });

  it("job items leave a slot free for unary callers, and a waiting unary call goes before waiting items", async () => {
    const b = createBulkhead({ name: "t", concurrency: 2 }); // one slot for jobs
    const log: string[] = [];
    const j1 = gate(log, "j1");
    const j2 = gate(log, "j2");
    const u1 = gate(log, "u1");
    const u2 = gate(log, "u2");
    const pj1 = b.run(context("job"), j1.work);
    const pj2 = b.run(context("job"), j2.work);
    await tick();
    expect(log).toEqual(["j1"]); // the second item waits although a slot is free
    const pu1 = b.run(context("unary"), u1.work);
    await tick();
    expect(log).toEqual(["j1", "u1"]);
    const pu2 = b.run(context("unary"), u2.work);
    j1.open();
    await pj1;
    await tick();
    expect(log).toEqual(["j1", "u1", "u2"]); // the unary call took the freed slot before j2
    u1.open();
    u2.open();
    await Promise.all([pu1, pu2]);
    await tick();
    expect(log).toEqual(["j1", "u1", "u2", "j2"]);
    j2.open();
    await pj2;
  });

  it("waiting job items are taken round robin across tenants", async () => {
    const b = createBulkhead({ name: "t", concurrency: 2, jobConcurrency: 1 });
    const calls = [
      ["a", "a1"],
      ["a", "a2"],
      ["a", "a3"],
      ["a", "a4"],
      ["b", "b1"],
      ["b", "b2"],
    ] as const;
    // a1 started at once; then tenant a (first to wait) and b take turns.
    expect(await oneAtATime(b, "job", calls)).toEqual(["a1", "a2", "b1", "a3", "b2", "a4"]);
  });

  it("waiting unary callers are taken round robin across tenants too", async () => {
    const b = createBulkhead({ name: "t", concurrency: 1 });
    const calls = [
      ["a", "a1"],
      ["a", "a2"],
      ["a", "a3"],
      ["b", "b1"],
      ["c", "c1"],
    ] as const;
    // tenant a's flood does not keep b and c waiting behind all of it.
    expect(await oneAtATime(b, "unary", calls)).toEqual(["a1", "a2", "b1", "c1", "a3"]);
  });

  it("weights add up to at most the capacity; a weight over it is refused", async () => {
    const b = createBulkhead({ name: "argon2", concurrency: 4, capacity: 100 });
    const log: string[] = [];
    const big = gate(log, "big");
    const mid = gate(log, "mid");
    const pBig = b.run(context("unary"), big.work, 70);
    const pMid = b.run(context("unary"), mid.work, 40);
    await tick();
    expect(log).toEqual(["big"]);
    expect(b.stats()).toMatchObject({ running: 1, weight: 70, waiting: 1 });
    big.open();
    await pBig;
    await tick();
    expect(log).toEqual(["big", "mid"]);
    mid.open();
    await pMid;
    const err = await b.run(context("unary"), async () => 1, 101).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe(Code.ResourceExhausted);
  });

  it("a caller that gives up while waiting leaves the queue; too many waiting are refused", async () => {
    const b = createBulkhead({ name: "t", concurrency: 1, maxWaiting: 1 });
    const log: string[] = [];
    const first = gate(log, "first");
    const p1 = b.run(context("unary"), first.work);
    const abort = new AbortController();
    const p2 = b.run(context("unary", "t", abort.signal), async () => "never");
    const refused = await b.run(context("unary"), async () => "x").catch((e: ConnectError) => e.code);
    expect(refused).toBe(Code.ResourceExhausted);
    abort.abort(new ConnectError("gone", Code.Canceled));
    expect(await p2.catch((e: ConnectError) => e.code)).toBe(Code.Canceled);
    expect(b.stats().waiting).toBe(0);
    first.open();
    expect(await p1).toBe("first");
  });
});
