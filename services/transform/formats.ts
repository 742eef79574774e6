/**
 * Reading and writing each data format with the library the field trusts for it: csv-parse and
 * csv-stringify, yaml (aliases bounded, so a billion-laughs document is refused), fast-xml-parser.
 * A fault names its line and column where the library tells them. Every format is bounded before
 * it is parsed (CSV and TSV by columns, line length and cells; NDJSON by line length) and after it
 * is read (nesting depth), so what is written from it is bounded too.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { Parser as CsvParser } from "csv-parse";
import { stringify as stringifyCsv } from "csv-stringify/sync";
import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { type ParseError, parse as parseJsonc, printParseErrorCode } from "jsonc-parser";
import { parseAllDocuments, stringify as stringifyYaml } from "yaml";
import { type CsvOptions, DataFormat, type XmlOptions } from "#gen/flowforge/transform/v1/transform_pb.js";
import { invalidArgument } from "#runtime/errors.js";

import { maxCells, maxColumns, maxDepth, maxLineChars, maxValueDepth } from "./bounds.js";

export { maxCells, maxColumns, maxDepth, maxLineChars, maxValueDepth };

/**
 * How deep `value` nests (a scalar is 0, `[]` is 1), found without recursion; counting stops once
 * past `limit`, so a hostile document costs no more than the limit.
 */
export function depthOf(value: unknown, limit = maxDepth): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, here]);
    }
  }
  return deepest;
}

/** Refuses a nesting `depth` (depthOf's) past `limit`, naming `field`; `why` says what the limit is for. */
export function refuseDepth(depth: number, field: string, limit = maxDepth, why = ""): void {
  if (depth > limit) throw invalidArgument(field, `nests more than ${limit} levels of arrays and objects${why}`);
}

/** Refuses data nested deeper than `limit`, naming `field`. */
export function checkDepth(value: unknown, field: string, limit = maxDepth, why = ""): void {
  refuseDepth(depthOf(value, limit), field, limit, why);
}

/** Physical lines (split at \n) and the longest, counted without splitting the text. */
function lineStats(input: string): { lines: number; longest: number } {
  let lines = 0;
  let longest = 0;
  for (let at = 0; at < input.length; ) {
    const end = input.indexOf("\n", at);
    const stop = end === -1 ? input.length : end;
    if (stop - at > longest) longest = stop - at;
    lines++;
    at = stop + 1;
  }
  return { lines, longest };
}

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
  checkTable(input, format, delimiter, quote);
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

/** Refuses text with a line past maxLineChars, naming `input`; the count of its lines. */
function checkLines(input: string, format: DataFormat): number {
  const { lines, longest } = lineStats(input);
  if (longest > maxLineChars)
    throw invalidArgument(
      "input",
      `has a line of ${longest} characters; ${DataFormat[format]} lines may have at most ${maxLineChars}`,
    );
  return lines;
}

/**
 * Bounds a CSV or TSV table before it is parsed: its lines, its columns (the first record's
 * delimiters outside quotes) and its cells (lines × columns, an upper bound on what it holds).
 */
function checkTable(input: string, format: DataFormat, delimiter: string, quote: string): void {
  let columns = 1;
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === quote) quoted = !quoted;
    else if (!quoted && c === "\n") break;
    else if (!quoted && input.startsWith(delimiter, i)) {
      columns++;
      if (columns > maxColumns)
        throw invalidArgument(
          "input",
          `has more than ${maxColumns} columns; ${DataFormat[format]} tables may have at most ${maxColumns}`,
        );
    }
  }
  const lines = checkLines(input, format);
  if (lines * columns > maxCells)
    throw invalidArgument(
      "input",
      `has ${lines} lines of ${columns} columns; a ${DataFormat[format]} table may hold at most ${maxCells} cells (convert it in parts)`,
    );
}

/**
 * Bounds YAML's nesting before it is parsed (the yaml library composes recursively, and a
 * document thousands of levels deep exhausts the stack in native code, past catching): block
 * levels by indentation, compact sequences (`- - -`) and flow collections (`[[[`) outside quoted
 * scalars (a quote counts only where a scalar may start, as the parser reads it), counted
 * generously, since the exact depth is checked again once the data is read.
 */
function checkYamlNesting(input: string): void {
  const limit = 4 * maxDepth;
  const indents: number[] = [];
  let flow = 0;
  let quote = "";
  for (let at = 0; at < input.length; ) {
    const end = input.indexOf("\n", at);
    const line = input.slice(at, end === -1 ? input.length : end);
    at = end === -1 ? input.length : end + 1;
    let i = 0;
    if (flow === 0 && quote === "") {
      while (line[i] === " ") i++;
      if (i === line.length || line[i] === "#") continue;
      while (indents.length > 0 && indents[indents.length - 1] >= i) indents.pop();
      indents.push(i);
    }
    let compact = 0;
    // The last character outside spaces: a quote starts a quoted scalar only where a scalar may start.
    let before = "";
    for (; i < line.length; i++) {
      const c = line[i];
      if (quote !== "") {
        if (quote === '"' && c === "\\") i++;
        else if (c === quote) quote = "";
        continue;
      }
      if (c === " " || c === "\t") continue;
      const scalarStart = before === "" || ":-[{,?".includes(before);
      before = c;
      if ((c === "'" || c === '"') && scalarStart) quote = c;
      else if (c === "#" && (i === 0 || line[i - 1] === " " || line[i - 1] === "\t")) break;
      else if (c === "[" || c === "{") flow++;
      else if ((c === "]" || c === "}") && flow > 0) flow--;
      else if (flow === 0 && (c === "-" || c === "?") && line[i + 1] === " " && (i === 0 || line[i - 1] === " "))
        compact++;
      if (indents.length + compact + flow > limit)
        throw invalidArgument("input", `nests more than ${maxDepth} levels of arrays and objects`);
    }
  }
}

function readYaml(input: string): unknown {
  checkYamlNesting(input);
  // Merge keys (`<<: *base`) are read, as most YAML in the wild expects.
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(input, { prettyErrors: true, merge: true });
  } catch (cause) {
    throw invalidArgument("input", `not usable YAML: ${tooDeep(cause) ?? (cause as Error).message}`, cause);
  }
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
    throw invalidArgument("input", `not usable YAML: ${tooDeep(cause) ?? (cause as Error).message}`, cause);
  }
}

/** What to say of a library that ran out of stack on deep nesting; undefined for any other fault. */
function tooDeep(cause: unknown): string | undefined {
  return cause instanceof RangeError ? `nests more than ${maxDepth} levels deep` : undefined;
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
    maxNestedTags: maxDepth,
  });
  try {
    return parser.parse(input);
  } catch (cause) {
    // Refusals of the parser's own: external entities (never read), nesting past maxDepth.
    throw invalidArgument("input", `not usable XML: ${tooDeep(cause) ?? (cause as Error).message}`, cause);
  }
}

/**
 * The text's data, refused naming `input` past maxDepth, and how deep it nests (exact up to
 * maxDepth), so a caller bounding it further need not walk it again.
 */
export async function read(
  input: string,
  format: DataFormat,
  csv: CsvOptions | undefined,
  xml: XmlOptions | undefined,
  progress: (fraction: number) => void = () => {},
): Promise<{ data: unknown; depth: number }> {
  const data = await readFormat(input, format, csv, xml, progress);
  const depth = depthOf(data);
  refuseDepth(depth, "input");
  return { data, depth };
}

async function readFormat(
  input: string,
  format: DataFormat,
  csv: CsvOptions | undefined,
  xml: XmlOptions | undefined,
  progress: (fraction: number) => void,
): Promise<unknown> {
  switch (format) {
    case DataFormat.JSON:
      return readJson(input);
    case DataFormat.NDJSON:
      checkLines(input, format);
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

/** The table of a table format (CSV, TSV, XLSX): an array of objects, or one object as one row; bounded in columns and cells. */
export function table(data: unknown, format: DataFormat): Table {
  const list = Array.isArray(data) ? data : [data];
  const columns = new Set<string>();
  let cells = 0;
  const rows = list.map((r, i) => {
    if (r === null || typeof r !== "object" || Array.isArray(r))
      throw invalidArgument("input", `row ${i} is not an object; ${DataFormat[format]} needs records`);
    const entries = Object.entries(r);
    cells += entries.length;
    if (cells > maxCells)
      throw invalidArgument(
        "input",
        `holds more than ${maxCells} cells; a ${DataFormat[format]} table may hold at most that`,
      );
    for (const [k] of entries) columns.add(k);
    return Object.fromEntries(
      entries.map(([k, v]) => [k, v !== null && typeof v === "object" ? JSON.stringify(v) : v]),
    );
  });
  if (columns.size > maxColumns)
    throw invalidArgument(
      "input",
      `has ${columns.size} fields; a ${DataFormat[format]} table may have at most ${maxColumns} columns`,
    );
  return { columns: [...columns], rows };
}

/**
 * The data as text. What read() answers is bounded in depth already; a writer that still runs
 * out of stack is refused naming `input`.
 */
export function write(
  data: unknown,
  format: DataFormat,
  csv: CsvOptions | undefined,
  xml: XmlOptions | undefined,
  pretty: boolean,
): string {
  try {
    return writeFormat(data, format, csv, xml, pretty);
  } catch (cause) {
    const deep = tooDeep(cause);
    if (deep) throw invalidArgument("input", `cannot be written as ${DataFormat[format]}: ${deep}`, cause);
    throw cause;
  }
}

function writeFormat(
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
