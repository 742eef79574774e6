/**
 * Payload filters: checked (every rule names its field, `filter.must[2].range.gt`) and compiled
 * to SQL over the `payload` jsonb column. Equality tests are jsonb containment (`@>`), which a
 * GIN index serves and which matches a list's elements as Qdrant's filters do; ranges compare
 * numbers and dates only where the value is one.
 */
import type postgres from "postgres";
import type { Condition, DateRange, Filter, Range } from "#gen/flowforge/vector/v1/vector_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";

/** Bounds a filter is held to. */
export const filterBounds = { conditions: 100, depth: 8, values: 1000, keyLength: 256 };

type Scalar = string | number | boolean;
type Fragment = postgres.PendingQuery<postgres.Row[]> | postgres.Fragment;

/** A checked condition. */
export type CheckedCondition =
  | { kind: "match"; path: string[]; values: Scalar[]; negate: boolean }
  | { kind: "range"; path: string[]; bounds: { op: ">" | ">=" | "<" | "<="; value: number }[] }
  | { kind: "date"; path: string[]; bounds: { op: ">" | ">=" | "<" | "<="; value: string }[] }
  | { kind: "exists"; path: string[]; exists: boolean }
  | { kind: "null"; path: string[]; isNull: boolean }
  | { kind: "filter"; filter: CheckedFilter };

/** A checked filter. */
export interface CheckedFilter {
  must: CheckedCondition[];
  should: CheckedCondition[];
  mustNot: CheckedCondition[];
}

/** Checks a filter, naming the field of the first rule broken. */
export function checkFilter(filter: Filter | undefined, field = "filter"): CheckedFilter | undefined {
  if (!filter) return undefined;
  let count = 0;
  const visit = (f: Filter, at: string, depth: number): CheckedFilter => {
    check(depth <= filterBounds.depth, at, `nests more than ${filterBounds.depth} filters`);
    const list = (conditions: Condition[], name: string) =>
      conditions.map((c, i) => {
        check(++count <= filterBounds.conditions, at, `has more than ${filterBounds.conditions} conditions`);
        return condition(c, `${at}.${name}[${i}]`, depth);
      });
    return { must: list(f.must, "must"), should: list(f.should, "should"), mustNot: list(f.mustNot, "must_not") };
  };
  const condition = (c: Condition, at: string, depth: number): CheckedCondition => {
    if (c.test.case === "filter") {
      check(c.key === "", `${at}.key`, "must be empty for a nested filter");
      return { kind: "filter", filter: visit(c.test.value, `${at}.filter`, depth + 1) };
    }
    const path = pathOf(c.key, `${at}.key`);
    switch (c.test.case) {
      case "match":
        return { kind: "match", path, values: [scalar(c.test.value.kind, `${at}.match`)], negate: false };
      case "any":
      case "none": {
        const values = c.test.value.values;
        const name = `${at}.${c.test.case}`;
        check(values.length > 0, name, "needs at least one value");
        check(values.length <= filterBounds.values, name, `at most ${filterBounds.values} values`);
        return {
          kind: "match",
          path,
          values: values.map((v, i) => scalar(v.kind, `${name}[${i}]`)),
          negate: c.test.case === "none",
        };
      }
      case "range":
        return { kind: "range", path, bounds: rangeBounds(c.test.value, `${at}.range`) };
      case "dateRange":
        return { kind: "date", path, bounds: dateBounds(c.test.value, `${at}.date_range`) };
      case "exists":
        return { kind: "exists", path, exists: c.test.value };
      case "isNull":
        return { kind: "null", path, isNull: c.test.value };
      default:
        throw invalidArgument(at, "needs a test: match, any, none, range, date_range, exists, is_null or filter");
    }
  };
  return visit(filter, field, 1);
}

function pathOf(key: string, field: string): string[] {
  check(key !== "", field, 'is required: the payload key (nested keys joined by ".")');
  check(key.length <= filterBounds.keyLength, field, `at most ${filterBounds.keyLength} characters`);
  const path = key.split(".");
  check(
    path.every((p) => p !== ""),
    field,
    `"${key}" has an empty part`,
  );
  return path;
}

function scalar(kind: { case?: string; value?: unknown }, field: string): Scalar {
  if (kind.case === "stringValue" || kind.case === "boolValue") return kind.value as Scalar;
  if (kind.case === "numberValue") {
    check(Number.isFinite(kind.value), field, "must be a finite number");
    return kind.value as number;
  }
  throw invalidArgument(field, "must be a text, a number or a boolean");
}

const ops = [
  ["gt", ">"],
  ["gte", ">="],
  ["lt", "<"],
  ["lte", "<="],
] as const;

function rangeBounds(r: Range, field: string) {
  const bounds = ops.flatMap(([name, op]) => {
    const value = r[name];
    if (value === undefined) return [];
    check(Number.isFinite(value), `${field}.${name}`, "must be a finite number");
    return [{ op, value }];
  });
  check(bounds.length > 0, field, "needs a bound: gt, gte, lt or lte");
  return bounds;
}

function dateBounds(r: DateRange, field: string) {
  const bounds = ops.flatMap(([name, op]) => {
    const text = r[name];
    if (text === "") return [];
    const t = Date.parse(text);
    check(
      /^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(t),
      `${field}.${name}`,
      `must be a date and time (RFC 3339), not "${text}"`,
    );
    return [{ op, value: new Date(t).toISOString() }];
  });
  check(bounds.length > 0, field, "needs a bound: gt, gte, lt or lte");
  return bounds;
}

/** `{a: {b: value}}` for the path a.b. */
function nest(path: string[], value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

/** A date-and-time text's shape, checked before a cast (a bad value is then no match, never an error). */
const dateShape = "^\\d{4}-\\d{2}-\\d{2}([T ][0-9:.]+)?(Z|[+-]\\d{2}(:?\\d{2})?)?$";

/** The filter as a SQL boolean expression over `payload` (true when there is none). */
export function filterSql(tag: postgres.Sql | postgres.TransactionSql, filter: CheckedFilter | undefined): Fragment {
  const sql = tag as postgres.Sql;
  if (!filter) return sql`true`;
  const join = (parts: Fragment[], op: "AND" | "OR", empty: Fragment): Fragment =>
    parts.length === 0 ? empty : parts.reduce((a, b) => sql`(${a}) ${sql.unsafe(op)} (${b})`);
  const condition = (c: CheckedCondition): Fragment => {
    switch (c.kind) {
      case "filter":
        return filterSql(sql, c.filter);
      case "match": {
        // Equal to the value, or a list holding it.
        const any = join(
          c.values.flatMap((v) => [
            sql`payload @> ${sql.json(nest(c.path, v) as never)}`,
            sql`payload @> ${sql.json(nest(c.path, [v]) as never)}`,
          ]),
          "OR",
          sql`false`,
        );
        return c.negate ? sql`NOT (${any})` : any;
      }
      case "range":
        return join(
          c.bounds.map(
            (b) =>
              sql`(CASE WHEN jsonb_typeof(payload #> ${c.path}) = 'number' THEN (payload #>> ${c.path})::float8 ${sql.unsafe(b.op)} ${b.value} ELSE false END)`,
          ),
          "AND",
          sql`true`,
        );
      case "date":
        return join(
          c.bounds.map(
            (b) =>
              sql`(CASE WHEN jsonb_typeof(payload #> ${c.path}) = 'string' AND (payload #>> ${c.path}) ~ ${dateShape} THEN (payload #>> ${c.path})::timestamptz ${sql.unsafe(b.op)} ${b.value}::timestamptz ELSE false END)`,
          ),
          "AND",
          sql`true`,
        );
      case "exists":
        return c.exists
          ? sql`coalesce(jsonb_typeof(payload #> ${c.path}), 'null') <> 'null'`
          : sql`coalesce(jsonb_typeof(payload #> ${c.path}), 'null') = 'null'`;
      case "null":
        return c.isNull
          ? sql`jsonb_typeof(payload #> ${c.path}) = 'null'`
          : sql`coalesce(jsonb_typeof(payload #> ${c.path}), 'x') <> 'null'`;
    }
  };
  const must = join(filter.must.map(condition), "AND", sql`true`);
  const should = join(filter.should.map(condition), "OR", sql`true`);
  const mustNot = join(filter.mustNot.map(condition), "OR", sql`false`);
  return sql`(${must}) AND (${should}) AND NOT (${mustNot})`;
}
