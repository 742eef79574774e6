/** REST answers in JSON: every field written, zero values included, errors inside in the envelope's shape. */
import { create, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { gatewayJsonOptions, toJsonText } from "../json-options.js";
import { type HttpAnswer, type Res, send } from "../node-http.js";
import { holdsStatus, restStatuses } from "./status.js";

/**
 * Answers as JSON with every field, zero values included; a google.rpc.Status inside (a job
 * item's error) written as the envelope's error object with `requestId`.
 */
export function jsonOf(schema: DescMessage, message: unknown, requestId = ""): string {
  const text = toJsonText(schema, create(schema, message as never), {
    alwaysEmitImplicit: true,
    registry: gatewayJsonOptions.registry,
  });
  if (!holdsStatus(schema)) return text;
  const json = JSON.parse(text) as JsonValue;
  restStatuses(schema, json, requestId);
  return JSON.stringify(json);
}

/** Answers JSON (a body already written as JSON text). */
export function sendJson(res: Res, answer: HttpAnswer & { body: string }) {
  send(res, { ...answer, headers: { "content-type": "application/json", ...answer.headers } });
}
