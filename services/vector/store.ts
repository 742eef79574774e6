/**
 * What a vector store does, whichever holds the vectors (pgvector in PostgreSQL or PGlite; Qdrant):
 * collections per tenant, points written all or nothing, filtered nearest-neighbour and keyword
 * search. The service composes the rest (batches, recommendations, hybrid fusion, text queries).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CheckedFilter } from "./filter.js";

/** How vectors are compared. */
export type DistanceName = "cosine" | "dot" | "euclidean" | "manhattan";

/** A collection's settings. */
export interface CollectionSpec {
  name: string;
  dimension: number;
  distance: DistanceName;
  m: number;
  efConstruction: number;
}

/** A collection's settings and state. */
export interface CollectionInfo extends CollectionSpec {
  points: number;
  indexState: string;
  indexBytes: number;
}

/** A point to write. */
export interface PointIn {
  id: string;
  vector: number[];
  payload: JsonObject;
  text: string;
}

/** A point read back. */
export interface PointOut {
  id: string;
  score: number;
  payload?: JsonObject;
  vector?: number[];
  text?: string;
}

/** Which parts of a point to read. */
export interface WithParts {
  payload: boolean;
  vector: boolean;
}

/** Points chosen by id or by filter. */
export type Selector = { ids: string[] } | { filter: CheckedFilter };

/** A nearest-neighbour search. */
export interface VectorQuery {
  vector: number[];
  filter?: CheckedFilter;
  limit: number;
  offset: number;
  /** Best score kept (similarity at least, or distance at most). */
  threshold?: number;
  efSearch: number;
  exact: boolean;
  with: WithParts;
  /** Ids left out of the answer (the examples of a recommendation). */
  exclude?: string[];
}

/** A full-text search of the points' text. */
export interface KeywordQuery {
  keywords: string;
  filter?: CheckedFilter;
  limit: number;
  with: WithParts;
}

/** A vector store. Every method takes the tenant; a collection of another tenant is not found. */
export interface VectorStore {
  readonly kind: string;
  createCollection(tenant: string, spec: CollectionSpec): Promise<CollectionInfo>;
  listCollections(tenant: string): Promise<CollectionInfo[]>;
  /** Undefined when the tenant has no such collection. */
  getCollection(tenant: string, name: string): Promise<CollectionInfo | undefined>;
  /** A collection's settings alone (cheap: no counting); undefined when the tenant has none of that name. */
  findCollection(tenant: string, name: string): Promise<CollectionSpec | undefined>;
  deleteCollection(tenant: string, name: string): Promise<boolean>;
  upsert(tenant: string, collection: string, points: PointIn[]): Promise<number>;
  get(tenant: string, collection: string, ids: string[], parts: WithParts): Promise<PointOut[]>;
  delete(tenant: string, collection: string, which: Selector): Promise<number>;
  setPayload(
    tenant: string,
    collection: string,
    which: Selector,
    payload: JsonObject,
    replace: boolean,
  ): Promise<number>;
  count(tenant: string, collection: string, filter?: CheckedFilter): Promise<number>;
  /** Points after `after` in id order. */
  scroll(
    tenant: string,
    collection: string,
    o: { filter?: CheckedFilter; limit: number; after?: string; with: WithParts },
  ): Promise<PointOut[]>;
  search(tenant: string, collection: string, query: VectorQuery): Promise<PointOut[]>;
  keywordSearch(tenant: string, collection: string, query: KeywordQuery): Promise<PointOut[]>;
  close(): Promise<void>;
}

/** Thrown by a store for a collection the tenant does not have. */
export class CollectionNotFound extends Error {
  override name = "CollectionNotFound";
  constructor(readonly collection: string) {
    super(`no collection "${collection}"`);
  }
}

/** Thrown by a store for a collection name the tenant already has. */
export class CollectionExists extends Error {
  override name = "CollectionExists";
  constructor(readonly collection: string) {
    super(`a collection "${collection}" exists already`);
  }
}

/**
 * A store that cannot serve (the database has no pgvector): every call is failed_precondition
 * saying so, while the rest of the mesh runs.
 */
export function unavailableStore(reason: string): VectorStore {
  const refuse = async () => {
    throw new ConnectError(reason, Code.FailedPrecondition);
  };
  return new Proxy({} as VectorStore, {
    get: (_target, property) => (property === "kind" ? "unavailable" : property === "close" ? async () => {} : refuse),
  });
}
