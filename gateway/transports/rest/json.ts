/** REST answers in JSON: every field written, zero values included. */
import { create, type DescMessage } from "@bufbuild/protobuf";
import { gatewayJsonOptions, toJsonText } from "../json-options.js";
import { type Res, send } from "../node-http.js";

export /** Answers as JSON with every field, zero values included. */
function jsonOf(schema: DescMessage, message: unknown): string {
  return toJsonText(schema, create(schema, message as never), {
    alwaysEmitImplicit: true,
    registry: gatewayJsonOptions.registry,
  });
}

export /** Answers JSON with `headers`. */
const sendJson = (res: Res, status: number, headers: Record<string, string>, body: string) =>
  send(res, status, { "content-type": "application/json", ...headers }, body);
