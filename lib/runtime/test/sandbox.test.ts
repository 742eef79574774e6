/**
 * The sandbox's threads, failing and taking turns: a thread that runs out of memory, exits or
 * spins fails only its own task (named by field) and is replaced, one that fails outside any task
 * does not take the process down, and tasks reach the threads unary first, tenants in turn, with
 * job items never on every thread.
 */
import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { createSandbox } from "../sandbox.js";
import { tenantKey } from "../context.js";
import type { FixtureTask } from "./sandbox-fixture.js";
import { until } from "#test/support/until.js";

function context(kind: "unary" | "job", tenant = "t"): HandlerContext {
  return {
    protocolName: kind === "job" ? "job" : "connect",
    signal: new AbortController().signal,
    values: createContextValues().set(tenantKey, tenant),
  } as unknown as HandlerContext;
}

const warnings: unknown[] = [];
const logger = { warn: (obj: unknown) => warnings.push(obj) } as never;
const sandbox = createSandbox<FixtureTask, { id: number }>({
  filename: new URL("./sandbox-fixture.ts", import.meta.url),
  field: "expression",
  threads: 2,
  heapMib: 32,
  timeMs: 60_000,
  logger,
});
afterAll(() => sandbox.close());

const echo = (id: number, kind: "unary" | "job" = "unary") => sandbox.run({ kind: "echo", id }, context(kind));
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => ConnectError.from(e),
  );

describe("sandbox threads that fail", () => {
  it("a task that runs out of memory fails alone, naming the field; the next tasks run on a new thread", async () => {
    const results = await Promise.all([
      codeOf(sandbox.run({ kind: "oom" }, context("job"), "items[0].expression")),
      codeOf(sandbox.run({ kind: "oom" }, context("unary"))),
      echo(1),
    ]);
    for (const err of results.slice(0, 2)) {
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage).toMatch(/needs more memory than it may use/);
    }
    expect((results[0] as ConnectError).rawMessage).toMatch(/^items\[0\]\.expression:/);
    expect(results[2]).toEqual({ id: 1 });
    expect(await Promise.all([echo(2), echo(3), echo(4)])).toEqual([{ id: 2 }, { id: 3 }, { id: 4 }]);
  });

  it("a thread that exits mid-task fails that task as internal; one that spins is ended at its time limit", async () => {
    const exited = await codeOf(sandbox.run({ kind: "exit" }, context("unary")));
    expect((exited as ConnectError).code).toBe(Code.Internal);
    const spun = await codeOf(sandbox.run({ kind: "spin" }, context("unary"), "expression", 200));
    expect((spun as ConnectError).code).toBe(Code.InvalidArgument);
    expect((spun as ConnectError).rawMessage).toMatch(/ran longer than the 200 ms limit/);
    expect(await echo(5)).toEqual({ id: 5 });
  });

  it("a thread that runs out of memory outside any task is reported and replaced; the process goes on", async () => {
    const before = warnings.length;
    expect(await sandbox.run({ kind: "oom-late" } as FixtureTask, context("unary"))).toEqual({ id: 0 });
    await until(() => warnings.length > before);
    expect(JSON.stringify(warnings[before])).toMatch(/ERR_WORKER_OUT_OF_MEMORY/);
    expect(await Promise.all([echo(6), echo(7)])).toEqual([{ id: 6 }, { id: 7 }]);
  });
});

describe("sandbox lanes", () => {
  it("job items never hold every thread; waiting unary calls go first, tenants take turns", async () => {
    const log = new Int32Array(new SharedArrayBuffer(4 * 32));
    const gates = new Map<number, Int32Array>();
    const started = () => Array.from(log.subarray(1, 1 + log[0]));
    const submit = (id: number, kind: "unary" | "job", tenant: string) => {
      const gate = new Int32Array(new SharedArrayBuffer(4));
      gates.set(id, gate);
      return sandbox.run({ kind: "gate", id, log, gate }, context(kind, tenant));
    };
    const open = (id: number) => {
      Atomics.store(gates.get(id)!, 0, 1);
      Atomics.notify(gates.get(id)!, 0);
    };
    // Tenant a's batch of four items, then b's two: one thread is theirs, the other is kept.
    const items = [11, 12, 13, 14].map((id) => submit(id, "job", "a"));
    items.push(...[21, 22].map((id) => submit(id, "job", "b")));
    await until(() => log[0] === 1);
    expect(started()).toEqual([11]);
    // A unary call runs at once on the kept thread, though six items are waiting.
    const u1 = submit(31, "unary", "c");
    await until(() => log[0] === 2);
    // While both threads are busy, two unary calls of tenant d and one of e wait behind the items.
    const unary = [submit(41, "unary", "d"), submit(42, "unary", "d"), submit(51, "unary", "e")];
    open(11);
    await until(() => log[0] === 3);
    open(31);
    await until(() => log[0] === 4);
    expect(started()).toEqual([11, 31, 41, 51]); // unary before items; d and e in turn
    open(41);
    await until(() => log[0] === 5);
    open(51);
    await until(() => log[0] === 6);
    expect(started()).toEqual([11, 31, 41, 51, 42, 12]); // then items, a (which waited first) and b in turn
    open(42); // a unary call ends: the free thread stays free, as 12 holds the one thread items may have
    for (const id of [12, 21, 13, 22, 14]) {
      const next = Math.min(10, log[0] + 1);
      open(id);
      await until(() => log[0] === next);
    }
    await Promise.all([u1, ...unary, ...items]);
    expect(started()).toEqual([11, 31, 41, 51, 42, 12, 21, 13, 22, 14]);
  });
});
