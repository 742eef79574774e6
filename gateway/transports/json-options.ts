/** How the gateway reads and writes Connect JSON, on either path (connect-node or the pass-through). */
import { catalogRegistry } from "../../services/catalog.js";

/**
 * A misspelt field is an error naming it, not a silently ignored value; `Any` resolves every type
 * the services know; a body that is not valid UTF-8 is refused, not patched with U+FFFD.
 */
export const gatewayJsonOptions = {
  ignoreUnknownFields: false,
  registry: catalogRegistry(),
  textDecoder: new TextDecoder("utf-8", { fatal: true }),
};
