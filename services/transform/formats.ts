/**
 * Reading and writing each data format with the library the field trusts for it: csv-parse and
 * csv-stringify, yaml (aliases bounded, so a billion-laughs document is refused), fast-xml-parser.
 * A fault names its line and column where the library tells them.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { Parser as CsvParser } from "csv-parse";
import { stringify as stringifyCsv } from "csv-stringify/sync";
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { type ParseError, parse as parseJsonc, printParseErrorCode } from "jsonc-parser";
import { parseAllDocuments, stringify as stringifyYaml } from "yaml";
import { type CsvOptions, DataFormat, type XmlOptions } from "#gen/flowforge/transform/v1/transform_pb.js";
import { invalidArgument } from "#runtime/errors.js";

/** Line and column (1-based) of a character offset. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line}, column ${offset - before.lastIndexOf("\n")}`;
}

function readJson(input: string, field = "input"): unknown {
  try {
    return JSON.parse(input);
  } catch (cause) {
    // JSON.parse does not say where; jsonc-parser (strict: no comments, no trailing commas) does.
    const errors: ParseError[] = [];
    parseJsonc(input, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    const where = first ? ` at ${lineAndColumn(input, first.offset)} (${printParseErrorCode(first.error)})` : "";
    throw invalidArgument(field, `not valid JSON${where}: ${(cause as Error).message.split("\n")[0]}`, cause);
  }
}

function csvOptions(format: DataFormat, o: CsvOptions | undefined) {
  const delimiter = o?.delimiter || (format === DataFormat.TSV ? "\t" : ",");
  const quote = o?.quote || '"';
  return { delimiter, quote, escapeChar: o?.escape || quote };
}

/** How much CSV is parsed between two turns of the event loop. */
const csvChunkBytes = 1024 * 1024;

/** csv-parse's parser core, which its stream and sync APIs both drive (the stream's `api`). */
interface CsvCore {
  parse(chunk: Buffer | undefined, end: boolean, push: (record: unknown) => void, close: () => void): Error | undefined;
}

/**
 * Reads CSV a megabyte at a time, yielding to the event loop between chunks (other callers are
 * answered meanwhile) and reporting the fraction read; as fast as csv-parse's sync API.
 */
async function readCsv(
  input: string,
  format: DataFormat,
  o: CsvOptions | undefined,
  progress: (fraction: number) => void,
): Promise<unknown[]> {
  const { delimiter, quote, escapeChar } = csvOptions(format, o);
  const columns = o?.columns.length ? o.columns : !o?.noHeader;
  const fail = (cause: unknown) => {
    // csv-parse says the line; where the fault is in a field, the field is the CSV column.
    const e = cause as Error & { lines?: number; column?: string | number | null; index?: number };
    const field = e.column != null && typeof e.index === "number" ? `, column ${e.index + 1} (${e.column})` : "";
    const where = typeof e.lines === "number" ? ` at line ${e.lines}${field}` : "";
    return invalidArgument("input", `not valid ${DataFormat[format]}${where}: ${e.message}`, cause);
  };
  let core: CsvCore;
  try {
    core = (
      new CsvParser({
        delimiter,
        quote,
        escape: escapeChar,
        columns,
        from_line: o?.noHeader || !o?.columns.length ? 1 : 2,
        bom: true,
        skip_empty_lines: !o?.keepEmptyLines,
        cast: !o?.valuesAsText,
      }) as unknown as { api: CsvCore }
    ).api;
  } catch (cause) {
    throw fail(cause);
  }
  const records: unknown[] = [];
  const push = (r: unknown) => records.push(r);
  const bytes = Buffer.from(input);
  for (let at = 0; at < bytes.length; at += csvChunkBytes) {
    const err = core.parse(bytes.subarray(at, at + csvChunkBytes), false, push, () => {});
    if (err) throw fail(err);
    if (at + csvChunkBytes < bytes.length) {
      progress((at + csvChunkBytes) / bytes.length);
      await nextTurn();
    }
  }
  const err = core.parse(undefined, true, push, () => {});
  if (err) throw fail(err);
  return records;
}

function readYaml(input: string): unknown {
  // Merge keys (`<<: *base`) are read, as most YAML in the wild expects.
  const docs = parseAllDocuments(input, { prettyErrors: true, merge: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const err = doc.errors[0];
    if (err)
      throw invalidArgument(
        "input",
        `not valid YAML at line ${err.linePos?.[0].line}, column ${err.linePos?.[0].col}: ${err.message.split("\n")[0]}`,
      );
  }
  try {
    // At most 100 aliases a document: a billion-laughs document is refused, not expanded.
    const values = list.map((d) => d.toJS({ maxAliasCount: 100 }));
    return values.length === 1 ? values[0] : values;
  } catch (cause) {
    throw invalidArgument("input", `not usable YAML: ${(cause as Error).message}`, cause);
  }
}

function readXml(input: string, o: XmlOptions | undefined): unknown {
  const valid = XMLValidator.validate(input);
  if (valid !== true)
    throw invalidArgument(
      "input",
      `not valid XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`,
    );
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: o?.attributePrefix || "@",
    parseTagValue: true,
    parseAttributeValue: true,
    ignoreDeclaration: true,
    processEntities: true,
    htmlEntities: false,
  });
  return parser.parse(input);
}

/** The text's data. */
export async function read(
  input: string,
  format: DataFormat,
  csv: CsvOptions | undefined,
  xml: XmlOptions | undefined,
  progress: (fraction: number) => void = () => {},
): Promise<unknown> {
  switch (format) {
    case DataFormat.JSON:
      return readJson(input);
    case DataFormat.NDJSON:
      return input
        .split("\n")
        .map((line, i) => [line, i] as const)
        .filter(([line]) => line.trim() !== "")
        .map(([line, i]) => {
          try {
            return JSON.parse(line);
          } catch (cause) {
            throw invalidArgument("input", `not valid JSON on line ${i + 1}: ${(cause as Error).message}`, cause);
          }
        });
    case DataFormat.CSV:
    case DataFormat.TSV:
      return readCsv(input, format, csv, progress);
    case DataFormat.YAML:
      return readYaml(input);
    case DataFormat.XML:
      return readXml(input, xml);
    default:
      throw invalidArgument("from", format === DataFormat.UNSPECIFIED ? "is required" : `unknown format ${format}`);
  }
}

/** Data as a table: its rows (nested values as JSON text) and every field of any row, in order of first appearance. */
export interface Table {
  columns: string[];
  rows: Record<string, unknown>[];
}

/** The table of a table format (CSV, TSV, XLSX): an array of objects, or one object as one row. */
export function table(data: unknown, format: DataFormat): Table {
  const list = Array.isArray(data) ? data : [data];
  const rows = list.map((r, i) => {
    if (r === null || typeof r !== "object" || Array.isArray(r))
      throw invalidArgument("input", `row ${i} is not an object; ${DataFormat[format]} needs records`);
    return Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, v !== null && typeof v === "object" ? JSON.stringify(v) : v]),
    );
  });
  return { columns: [...new Set(rows.flatMap((r) => Object.keys(r)))], rows };
}

/** The data as text. */
export function write(
  data: unknown,
  format: DataFormat,
  csv: CsvOptions | undefined,
  xml: XmlOptions | undefined,
  pretty: boolean,
): string {
  switch (format) {
    case DataFormat.JSON:
      return JSON.stringify(data, null, pretty ? 2 : undefined);
    case DataFormat.NDJSON:
      return `${(Array.isArray(data) ? data : [data]).map((v) => JSON.stringify(v)).join("\n")}\n`;
    case DataFormat.CSV:
    case DataFormat.TSV: {
      const { rows, columns: fields } = table(data, format);
      const columns = csv?.columns.length ? csv.columns : fields;
      const { delimiter, quote, escapeChar } = csvOptions(format, csv);
      return stringifyCsv(rows, { header: !csv?.noHeader, columns, delimiter, quote, escape: escapeChar });
    }
    case DataFormat.YAML:
      return stringifyYaml(data);
    case DataFormat.XML: {
      const builder = new XMLBuilder({
        ignoreAttributes: false,
        attributeNamePrefix: xml?.attributePrefix || "@",
        format: pretty,
      });
      return builder.build({ [xml?.rootName || "root"]: Array.isArray(data) ? { item: data } : data });
    }
    default:
      throw invalidArgument("to", format === DataFormat.UNSPECIFIED ? "is required" : `unknown format ${format}`);
  }
}
