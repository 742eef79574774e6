/** Patch and Diff: RFC 6902 JSON Patch (fast-json-patch) and RFC 7386 JSON Merge Patch (json-merge-patch). */
import { fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Value, ValueSchema } from "@bufbuild/protobuf/wkt";
import jsonPatch from "fast-json-patch";
import mergePatch from "json-merge-patch";
import { type DiffRequest, type PatchRequest, PatchKind } from "#gen/flowforge/transform/v1/transform_pb.js";
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

/** The JSON Patch from one document to another. */
export function diff(req: DiffRequest) {
  const before = json(req.before);
  const after = json(req.after);
  check(before !== null && typeof before === "object", "before", "must be an object or an array");
  check(after !== null && typeof after === "object", "after", "must be an object or an array");
  return { patch: fromJson(ValueSchema, jsonPatch.compare(before as object, after as object) as unknown as JsonValue) };
}
