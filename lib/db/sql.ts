/**
 * PostgreSQL access through postgres.js. The same code runs against real PostgreSQL
 * (`DATABASE_URL`) and against embedded PGlite served over the wire protocol.
 */
import postgres from "postgres";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/** Options for createSql. */
export interface SqlOptions {
  /** Pool size. Default 8. */
  max?: number;
  /** Schema to use as search_path (tests isolate themselves this way). */
  schema?: string;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

/** Connects to PostgreSQL (or PGlite over the wire). */
export function createSql(url: string, options: SqlOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 8,
    onnotice: () => {},
    idle_timeout: 60,
    connect_timeout: 10,
    connection: {
      application_name: options.applicationName ?? "flowforge",
      ...(options.schema ? { search_path: options.schema } : {}),
    },
  });
}
