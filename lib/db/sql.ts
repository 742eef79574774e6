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
  /**
   * Plan every execution with its actual parameters instead of reusing a generic plan. For
   * the job workers' key lookups and outcome writes: a generic plan cached while the jobs
   * tables were small (a young database, before autovacuum analyzes it) keeps scanning them
   * whole as they grow. Not for statements with very large arrays (a 10,000-item submit plans
   * 2-3 times slower this way).
   */
  customPlans?: boolean;
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
      ...(options.customPlans ? { plan_cache_mode: "force_custom_plan" } : {}),
      ...(options.schema ? { search_path: options.schema } : {}),
    },
  });
}

/** The process's database, as its configuration gives it; throws when there is none. */
export function sqlFor(
  database: { url: string; pool: number } | undefined,
  applicationName: string,
  options: Pick<SqlOptions, "customPlans"> = {},
): Sql {
  if (!database) throw new Error("DATABASE_URL is required (npm start provides an embedded one)");
  return createSql(database.url, { max: database.pool, applicationName, ...options });
}
