/** How the gateway reads and writes Connect JSON, on either path (connect-node or the pass-through). */
import { catalogRegistry } from "../services/catalog.js";

/** A misspelt field is an error naming it, not a silently ignored value; `Any` resolves every type the services know. */
export const gatewayJsonOptions = { ignoreUnknownFields: false, registry: catalogRegistry() };
