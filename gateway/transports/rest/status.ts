/**
 * One error shape on REST: a `google.rpc.Status` inside an answer (a job item's error, in a job, a
 * batch answer or a WatchJob event) is written as the envelope's error object — a stable string
 * `code`, the `message`, field violations as `details` of `field` / `message`, the request id —
 * the same object a failed call answers under `error`. Found from the descriptors: nothing per
 * method.
 */
import type { DescField, DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { Code } from "@connectrpc/connect";
import { restCodeOf } from "./envelope.js";

const statusType = "google.rpc.Status";
const badRequestType = "type.googleapis.com/google.rpc.BadRequest";
const quotaTypes = ["type.googleapis.com/google.rpc.QuotaFailure", "type.googleapis.com/google.rpc.RetryInfo"];

const holding = new WeakMap<DescMessage, boolean>();

/** Whether a message of this type may hold a google.rpc.Status anywhere inside it. */
export function holdsStatus(schema: DescMessage): boolean {
  let holds = holding.get(schema);
  if (holds === undefined) {
    holds = reachesStatus(schema, new Set());
    holding.set(schema, holds);
  }
  return holds;
}

/** A search of the fields' types from `schema`, each type once (recursive messages end). */
function reachesStatus(schema: DescMessage, seen: Set<DescMessage>): boolean {
  if (seen.has(schema)) return false;
  seen.add(schema);
  return schema.fields.some((f) => {
    const m = messageOf(f);
    return m !== undefined && (m.typeName === statusType || reachesStatus(m, seen));
  });
}

function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map" && field.mapKind === "message") return field.message;
  return undefined;
}

/** A google.rpc.Status in its JSON form as the envelope's error object. */
export function restStatus(status: JsonObject, requestId: string): JsonObject {
  const details = Array.isArray(status.details) ? (status.details as JsonObject[]) : [];
  const violations = details
    .filter((d) => d["@type"] === badRequestType)
    .flatMap((d) => (Array.isArray(d.fieldViolations) ? (d.fieldViolations as JsonObject[]) : []))
    .map((v) => ({ field: String(v.field ?? ""), message: String(v.description ?? "") }));
  const quota = details.some((d) => quotaTypes.includes(String(d["@type"])));
  return {
    code: restCodeOf(Number(status.code ?? 2) as Code, quota).code,
    message: String(status.message ?? ""),
    details: violations,
    requestId,
  };
}

/** Rewrites, in place, every google.rpc.Status in `json` (a message of `schema` in JSON form). */
export function restStatuses(schema: DescMessage, json: JsonValue, requestId: string): void {
  if (typeof json !== "object" || json === null || Array.isArray(json) || !holdsStatus(schema)) return;
  for (const field of schema.fields) {
    const m = messageOf(field);
    const value = json[field.jsonName];
    if (!m || value === undefined || value === null) continue;
    const one = (v: JsonValue): JsonValue => {
      if (m.typeName !== statusType) {
        restStatuses(m, v, requestId);
        return v;
      }
      return typeof v === "object" && v !== null && !Array.isArray(v) ? restStatus(v, requestId) : v;
    };
    if (field.fieldKind === "list" && Array.isArray(value)) json[field.jsonName] = value.map(one);
    else if (field.fieldKind === "map" && typeof value === "object" && !Array.isArray(value))
      json[field.jsonName] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, one(v)]));
    else json[field.jsonName] = one(value);
  }
}
