/**
 * What the console knows of the contracts: the generated descriptors of every service the gateway
 * serves (forms are built from these at run time, no per-method code), and the OpenAPI document
 * the gateway publishes, for the protos' comments (help text) and `Example:` lines (prefills).
 */
import type { DescMethod, DescService, JsonValue } from "@bufbuild/protobuf";
import { flowforgeRegistry, servedServices } from "../../gen/flowforge/registry.js";

export const registry = flowforgeRegistry();

/** Every service callers may use, capabilities first, as the gateway serves them. */
export const services: DescService[] = servedServices.flatMap((name) => {
  const service = registry.getService(name);
  return service ? [service] : [];
});

/** The part of /openapi.json the console reads. */
export interface ApiDocument {
  paths: Record<string, Record<string, { operationId?: string; description?: string; requestBody?: RequestBody }>>;
  components: {
    schemas: Record<string, { description?: string; properties?: Record<string, { description?: string }> }>;
  };
}
interface RequestBody {
  content?: Record<string, { example?: JsonValue }>;
}

/** The REST route, description and example of a method, when the document has them. */
export interface MethodDoc {
  description?: string;
  restPath?: string;
  example?: JsonValue;
  /** Whether it runs as jobs (its capability's methods have `:batch` twins). */
  jobs?: boolean;
}

/** Fetches the gateway's OpenAPI document (public, like /docs). */
export async function fetchApiDocument(): Promise<ApiDocument> {
  const res = await fetch("/openapi.json");
  if (!res.ok) throw new Error(`/openapi.json answered ${res.status}`);
  return (await res.json()) as ApiDocument;
}

/** What the document says of `method` (its operation is `Service_Method`). */
export function methodDoc(doc: ApiDocument | undefined, method: DescMethod): MethodDoc {
  if (!doc) return {};
  const operationId = `${method.parent.name}_${method.name}`;
  for (const [path, operations] of Object.entries(doc.paths)) {
    // A path may hold two methods (POST /api/v1/jobs submits, GET lists).
    const op = [operations.post, operations.get].find((o) => o?.operationId === operationId);
    if (!op) continue;
    return {
      description: op.description,
      restPath: path,
      example: op.requestBody?.content?.["application/json"]?.example,
      jobs: `${path}:batch` in doc.paths,
    };
  }
  return {};
}

/** The comment of a message's field (by JSON name), from the document's schemas. */
export function fieldDoc(doc: ApiDocument | undefined, typeName: string, jsonName: string): string | undefined {
  return doc?.components.schemas[typeName]?.properties?.[jsonName]?.description;
}
