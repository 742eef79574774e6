/** The bounds on what the transform service reads and writes (formats.ts, xlsx.ts), in one place. */

/** Deepest nesting of arrays and objects read or written. */
export const maxDepth = 64;
/**
 * Deepest nesting answered as a google.protobuf.Value (the `data` form, query results): each level
 * is two messages, and protobuf readers refuse past 100 (protobuf-es, grpc's Python and Go).
 */
export const maxValueDepth = 40;
/** Most columns of a table (CSV, TSV, XLSX), read or written. */
export const maxColumns = 10_000;
/** Most cells (rows × columns) of a table (CSV, TSV, XLSX), read or written. */
export const maxCells = 5_000_000;
/** Longest line of CSV, TSV or NDJSON, in characters. */
export const maxLineChars = 4 * 1024 * 1024;
