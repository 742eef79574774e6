/**
 * Reshape: steps over a list of records (or one object), each on the result of the one before.
 * Fields are dotted paths (lodash's get / set / unset, which never write `__proto__`); flatten and
 * unflatten are the `flat` package's.
 */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { flatten, unflatten } from "flat";
import { chunk, get, has, omit, pick, set, unset } from "lodash-es";
import {
  type Aggregate,
  AggregateFunction,
  type ReshapeRequest,
  type ReshapeStep,
  type Sort,
} from "#gen/flowforge/transform/v1/transform_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";

/** Most steps in one request. */
const maxSteps = 100;
/** Deepest nesting a step may produce (unflatten and dotted paths create levels). */
const maxDepth = 64;

/** Refuses data nested deeper than maxDepth (walked without recursion, so depth cannot hurt). */
function checkDepth(data: unknown, field: string): void {
  const stack: [unknown, number][] = [[data, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    check(depth < maxDepth, field, `would nest the data deeper than ${maxDepth} levels`);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}

type Record_ = Record<string, unknown>;
const isRecord = (v: unknown): v is Record_ => v !== null && typeof v === "object" && !Array.isArray(v);

/** The records a step works on; `field` names the step in errors. */
function records(data: unknown, field: string): Record_[] {
  check(Array.isArray(data), field, `needs a list of records, got ${data === null ? "null" : typeof data}`);
  const bad = data.findIndex((r) => !isRecord(r));
  check(bad < 0, field, `needs a list of records, but item ${bad} is not an object`);
  return data as Record_[];
}

/** Applies `fn` to each record of a list, or to a single object. */
function eachRecord(data: unknown, field: string, fn: (r: Record_) => Record_): unknown {
  if (isRecord(data)) return fn(data);
  return records(data, field).map(fn);
}

function fieldsOf(fields: string[], field: string, min = 1): string[] {
  check(fields.length >= min, field, `must name at least ${min} field`);
  for (const [i, f] of fields.entries()) checkPath(f, `${field}[${i}]`);
  return fields;
}

/** A dotted field path: not empty, and not deeper than the data may be. */
function checkPath(path: string, field: string): void {
  check(path !== "", field, "must not be empty");
  check(path.split(".", maxDepth + 1).length <= maxDepth, field, `must have at most ${maxDepth} levels`);
}

/** The values of `fields` in a record, as one comparable key. */
const keyOf = (r: Record_, fields: string[]) => JSON.stringify(fields.map((f) => get(r, f) ?? null));

/** Records grouped by fields, in order of each group's first record. */
function groups(list: Record_[], fields: string[]): { key: Record_; items: Record_[] }[] {
  const byKey = new Map<string, { key: Record_; items: Record_[] }>();
  for (const r of list) {
    const k = keyOf(r, fields);
    let g = byKey.get(k);
    if (!g) {
      const key: Record_ = {};
      for (const f of fields) set(key, f, get(r, f) ?? null);
      g = { key, items: [] };
      byKey.set(k, g);
    }
    g.items.push(r);
  }
  return [...byKey.values()];
}

/** Orders values: missing last; numbers numerically before text by code point, before anything else. */
function compare(a: unknown, b: unknown): number {
  const missingA = a === undefined || a === null;
  const missingB = b === undefined || b === null;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
  const rank = (v: unknown) => (typeof v === "number" ? 0 : typeof v === "string" ? 1 : typeof v === "boolean" ? 2 : 3);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (typeof a === "number" || typeof a === "boolean") return Number(a) - Number(b);
  const [x, y] = typeof a === "string" ? [a, b as string] : [JSON.stringify(a), JSON.stringify(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}

function sort(list: Record_[], spec: Sort, field: string): Record_[] {
  check(spec.keys.length > 0, `${field}.keys`, "must hold at least one key");
  for (const [i, k] of spec.keys.entries()) checkPath(k.field, `${field}.keys[${i}].field`);
  return [...list].sort((a, b) => {
    for (const k of spec.keys) {
      const va = get(a, k.field);
      const vb = get(b, k.field);
      const c = compare(va, vb);
      // Missing values stay last in either direction.
      if (c !== 0) return k.descending && va != null && vb != null ? -c : c;
    }
    return 0;
  });
}

const functionNames: Record<AggregateFunction, string | undefined> = {
  [AggregateFunction.UNSPECIFIED]: undefined,
  [AggregateFunction.COUNT]: "count",
  [AggregateFunction.SUM]: "sum",
  [AggregateFunction.MIN]: "min",
  [AggregateFunction.MAX]: "max",
  [AggregateFunction.MEAN]: "mean",
};

function aggregate(list: Record_[], spec: Aggregate, field: string): Record_[] {
  check(spec.aggregations.length > 0, `${field}.aggregations`, "must hold at least one aggregation");
  const plan = spec.aggregations.map((a, i) => {
    const name = functionNames[a.function];
    if (!name) throw invalidArgument(`${field}.aggregations[${i}].function`, "is required");
    if (name !== "count") checkPath(a.field, `${field}.aggregations[${i}].field`);
    return { ...a, name, as: a.as || (name === "count" ? "count" : `${name}_${a.field}`) };
  });
  const grouped =
    spec.groupBy.length > 0 ? groups(list, fieldsOf(spec.groupBy, `${field}.group_by`)) : [{ key: {}, items: list }];
  return grouped.map(({ key, items }) => {
    const out: Record_ = structuredClone(key);
    for (const a of plan) {
      if (a.name === "count") {
        out[a.as] = items.length;
        continue;
      }
      const numbers = items.map((r) => get(r, a.field)).filter((v): v is number => typeof v === "number");
      const total = numbers.reduce((s, v) => s + v, 0);
      out[a.as] =
        a.name === "sum"
          ? total
          : numbers.length === 0
            ? null
            : a.name === "mean"
              ? total / numbers.length
              : numbers.reduce((m, v) => (a.name === "min" ? Math.min(m, v) : Math.max(m, v)));
    }
    return out;
  });
}

function rename(r: Record_, fields: Record<string, string>, field: string): Record_ {
  const out = structuredClone(r);
  const moved: [string, unknown][] = [];
  // Every value read before any is written, so swapping two names works.
  for (const [from, to] of Object.entries(fields)) {
    checkPath(from, `${field}.fields`);
    checkPath(to, `${field}.fields.${from}`);
    if (has(out, from)) moved.push([to, get(out, from)]);
  }
  for (const from of Object.keys(fields)) unset(out, from);
  for (const [to, v] of moved) set(out, to, v);
  return out;
}

function apply(step: ReshapeStep, data: unknown, field: string): unknown {
  const s = step.step;
  const at = `${field}.${s.case ?? ""}`;
  switch (s.case) {
    case "flatten":
      return eachRecord(data, at, (r) => flatten(r, { delimiter: s.value.separator || ".", safe: s.value.keepArrays }));
    case "unflatten": {
      const delimiter = s.value.separator || ".";
      return eachRecord(data, at, (r) => {
        // Checked before unflattening: a key of a million separators would nest a million levels.
        const deep = Object.keys(r).find((k) => k.split(delimiter, maxDepth + 1).length > maxDepth);
        check(deep === undefined, at, `would nest the data deeper than ${maxDepth} levels`);
        return unflatten(r, { delimiter });
      });
    }
    case "pick":
      return eachRecord(data, at, (r) => pick(r, fieldsOf(s.value.fields, `${at}.fields`)));
    case "omit":
      return eachRecord(data, at, (r) => omit(r, fieldsOf(s.value.fields, `${at}.fields`)));
    case "rename":
      return eachRecord(data, at, (r) => rename(r, s.value.fields, at));
    case "sort":
      return sort(records(data, at), s.value, at);
    case "dedupe": {
      const fields = fieldsOf(s.value.fields, `${at}.fields`, 0);
      const seen = new Set<string>();
      return records(data, at).filter((r) => {
        const k = fields.length > 0 ? keyOf(r, fields) : JSON.stringify(r);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
    }
    case "group":
      return groups(records(data, at), fieldsOf(s.value.fields, `${at}.fields`));
    case "chunk":
      check(s.value.size >= 1, `${at}.size`, "must be at least 1");
      return chunk(records(data, at), s.value.size);
    case "aggregate":
      return aggregate(records(data, at), s.value, at);
    default:
      throw invalidArgument(
        field,
        "is required: one of flatten, unflatten, pick, omit, rename, sort, dedupe, group, chunk, aggregate",
      );
  }
}

/** Runs the steps in order. */
export function reshape(req: ReshapeRequest) {
  check(req.steps.length > 0, "steps", "must hold at least one step");
  check(req.steps.length <= maxSteps, "steps", `must hold at most ${maxSteps} steps`);
  let data: unknown = req.data ? toJson(ValueSchema, req.data) : null;
  for (const [i, step] of req.steps.entries()) {
    data = apply(step, data, `steps[${i}]`);
    checkDepth(data, `steps[${i}]`);
  }
  return { data: fromJson(ValueSchema, data as JsonValue) };
}
