/**
 * Patch, Diff and Merge: RFC 6902 JSON Patch (fast-json-patch), RFC 7386 JSON Merge Patch
 * (json-merge-patch) and deep merge (deepmerge).
 */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import deepmerge from "deepmerge";
import jsonPatch from "fast-json-patch";
import mergePatch from "json-merge-patch";
import {
  ArrayMerge,
  type DiffRequest,
  type MergeRequest,
  type PatchRequest,
  PatchKind,
} from "#gen/flowforge/transform/v1/transform_pb.js";
import { check, invalidArgument } from "#runtime/errors.js";

/** Most operations one JSON Patch may hold. */
const maxOperations = 10_000;

const json = (v: Value | undefined): JsonValue => (v ? toJson(ValueSchema, v) : null);

/** Applies the patch. */
export function patch(req: PatchRequest) {
  const document = json(req.document);
  const p = json(req.patch);
  if (req.kind === PatchKind.MERGE_PATCH) {
    return { document: fromJson(ValueSchema, (mergePatch.apply(structuredClone(document), p) ?? null) as JsonValue) };
  }
  check(
    req.kind === PatchKind.UNSPECIFIED || req.kind === PatchKind.JSON_PATCH,
    "kind",
    `unknown patch kind ${req.kind}`,
  );
  check(Array.isArray(p), "patch", "a JSON Patch is a list of operations");
  const operations = p as unknown as jsonPatch.Operation[];
  check(operations.length <= maxOperations, "patch", `must hold at most ${maxOperations} operations`);
  operations.forEach(checkPrototypeFree);
  const invalid = jsonPatch.validate(operations, document);
  if (invalid)
    throw invalidArgument(
      `patch[${invalid.index ?? 0}]`,
      `${invalid.name}: ${invalid.message.split("\n")[0]}`,
      invalid,
    );
  try {
    const result = jsonPatch.applyPatch(document, operations, true, false).newDocument;
    return { document: fromJson(ValueSchema, (result ?? null) as JsonValue) };
  } catch (err) {
    const e = err as { name?: string; index?: number; message?: string };
    throw invalidArgument(`patch[${e.index ?? 0}]`, `${e.name ?? "error"}: ${(e.message ?? "").split("\n")[0]}`, err);
  }
}

/**
 * Refuses an operation whose path or from reaches `__proto__` or `constructor/prototype`
 * (fast-json-patch bans them too, with a TypeError that would read as a fault of ours).
 */
function checkPrototypeFree(op: jsonPatch.Operation, i: number): void {
  for (const key of ["path", "from"] as const) {
    const pointer = (op as unknown as Record<string, unknown>)[key];
    if (typeof pointer !== "string") continue;
    const tokens = pointer.split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
    const banned = tokens.some((t, j) => t === "__proto__" || (t === "constructor" && tokens[j + 1] === "prototype"));
    check(!banned, `patch[${i}].${key}`, "may not reach __proto__ or constructor/prototype");
  }
}

/** The JSON Patch from one document to another. */
export function diff(req: DiffRequest) {
  const before = json(req.before);
  const after = json(req.after);
  check(before !== null && typeof before === "object", "before", "must be an object or an array");
  check(after !== null && typeof after === "object", "after", "must be an object or an array");
  return { patch: fromJson(ValueSchema, jsonPatch.compare(before as object, after as object) as unknown as JsonValue) };
}

const arrayMerges: Record<ArrayMerge, deepmerge.Options["arrayMerge"] | undefined> = {
  [ArrayMerge.UNSPECIFIED]: (_target, source) => source,
  [ArrayMerge.REPLACE]: (_target, source) => source,
  [ArrayMerge.CONCAT]: undefined,
  // Items at the same index merged, objects deeply (deepmerge's documented "combine" merge).
  [ArrayMerge.BY_INDEX]: (target, source, options) => {
    const out = target.slice();
    source.forEach((item, i) => {
      out[i] =
        i < target.length && options?.isMergeableObject?.(item) && options.isMergeableObject(target[i])
          ? deepmerge(target[i], item, options)
          : item;
    });
    return out;
  },
};

/** Most documents one Merge takes. */
const maxDocuments = 1000;

/** Deep-merges documents left to right (deepmerge; it never writes `__proto__` or `constructor`). */
export function merge(req: MergeRequest) {
  check(req.documents.length > 0, "documents", "must hold at least one document");
  check(req.documents.length <= maxDocuments, "documents", `must hold at most ${maxDocuments} documents`);
  check(req.arrays in arrayMerges, "arrays", `unknown array merge ${req.arrays}`);
  const documents = req.documents.map((d) => json(d));
  const options = { arrayMerge: arrayMerges[req.arrays] };
  const merged = documents
    .slice(1)
    .reduce<unknown>(
      (target, source) => (isObject(target) && isObject(source) ? deepmerge<unknown>(target, source, options) : source),
      documents[0],
    );
  return { document: fromJson(ValueSchema, merged as JsonValue) };
}

const isObject = (v: unknown): v is object => v !== null && typeof v === "object";
