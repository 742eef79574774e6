/**
 * The items a call submits as job work: the length of its input's repeated field marked
 * `(flowforge.common.v1.rate_limit_per_item)` (a batch), read from the descriptors; a call with
 * such a field but no items (a single-request job) submits one. Calls without one submit none.
 */
import { getOption, type DescField, type DescMethod } from "@bufbuild/protobuf";
import { rate_limit_per_item } from "#gen/flowforge/common/v1/common_pb.js";
import type { Call } from "./policy.js";

const perItemFields = new WeakMap<DescMethod, DescField | null>();

function perItemField(method: DescMethod): DescField | undefined {
  let field = perItemFields.get(method);
  if (field === undefined) {
    field = method.input.fields.find((f) => f.fieldKind === "list" && getOption(f, rate_limit_per_item)) ?? null;
    perItemFields.set(method, field);
  }
  return field ?? undefined;
}

/** How many job items the call submits (reads its request only when the method has a per-item field). */
export async function jobItems(call: Call): Promise<number> {
  const field = call.method.methodKind === "unary" ? perItemField(call.method) : undefined;
  if (!field) return 0;
  return Math.max(1, ((await call.message()) as Record<string, unknown[]>)[field.localName].length);
}
