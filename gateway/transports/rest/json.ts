/** REST answers in JSON: every field written, zero values included. */
import { create, type DescMessage } from "@bufbuild/protobuf";
import { gatewayJsonOptions, toJsonText } from "../json-options.js";
import { type HttpAnswer, type Res, send } from "../node-http.js";

/** Answers as JSON with every field, zero values included. */
export function jsonOf(schema: DescMessage, message: unknown): string {
  return toJsonText(schema, create(schema, message as never), {
    alwaysEmitImplicit: true,
    registry: gatewayJsonOptions.registry,
  });
}

/** Answers JSON (a body already written as JSON text). */
export function sendJson(res: Res, answer: HttpAnswer & { body: string }) {
  send(res, { ...answer, headers: { "content-type": "application/json", ...answer.headers } });
}
