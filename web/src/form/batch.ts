/**
 * A batch from a file, one item per row: a JSON array of requests, NDJSON (one per line), or CSV
 * whose header names the fields (`text`, `algorithm`, ...; a nested field as `input.text`). CSV
 * cells are text, so each is read as its field's type: numbers, booleans, enums by short or full
 * name, messages and lists as JSON. A row that does not fit names its row and field.
 */
import {
  type DescField,
  type DescMessage,
  fromJson,
  type JsonObject,
  type JsonValue,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import { registry } from "../services.js";
import { isJsonNumber, normalizeExample } from "./model.js";

/** The requests in `text` (the file's content), checked against `input`. */
export function batchItems(input: DescMessage, fileName: string, text: string): Message[] {
  const rows = /\.csv$/i.test(fileName) ? csvRows(input, text) : jsonRows(text);
  if (rows.length === 0) throw new Error(`${fileName} holds no rows`);
  return rows.map((row, i) => {
    try {
      return fromJson(input, normalizeExample(input, row), { registry });
    } catch (err) {
      throw new Error(`row ${i + 1}: ${(err as Error).message}`);
    }
  });
}

function jsonRows(text: string): JsonObject[] {
  const trimmed = text.trim();
  const values: JsonValue[] = trimmed.startsWith("[")
    ? (JSON.parse(trimmed) as JsonValue[])
    : trimmed
        .split("\n")
        .filter((l) => l.trim())
        .map((l, i) => {
          try {
            return JSON.parse(l) as JsonValue;
          } catch (err) {
            throw new Error(`line ${i + 1}: ${(err as Error).message}`);
          }
        });
  return values.map((v, i) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`row ${i + 1} is not a JSON object`);
    return v;
  });
}

/** RFC 4180 CSV: quoted cells, doubled quotes, CRLF or LF. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((r) => r.some((c) => c !== ""));
}

function csvRows(input: DescMessage, text: string): JsonObject[] {
  const [header, ...rows] = parseCsv(text);
  if (!header) return [];
  return rows.map((cells) => {
    const row: JsonObject = {};
    header.forEach((column, c) => {
      const cell = cells[c] ?? "";
      if (cell === "") return;
      setPath(input, row, column.trim().split("."), cell);
    });
    return row;
  });
}

/** Sets `path` (field names) in `row` to `cell` read as the field's type. */
function setPath(message: DescMessage, row: JsonObject, path: string[], cell: string) {
  const [name, ...rest] = path;
  const field = message.fields.find((f) => f.name === name || f.jsonName === name);
  if (!field) throw new Error(`column "${path.join(".")}" names no field of ${message.name}`);
  if (rest.length > 0) {
    if (!field.message || field.fieldKind !== "message")
      throw new Error(`column "${path.join(".")}": ${name} is not a message`);
    if (!row[field.jsonName]) row[field.jsonName] = {};
    const inner = row[field.jsonName] as JsonObject;
    setPath(field.message, inner, rest, cell);
    return;
  }
  row[field.jsonName] = cellValue(field, cell);
}

function cellValue(field: DescField, cell: string): JsonValue {
  if (field.fieldKind !== "scalar" && field.fieldKind !== "enum") return JSON.parse(cell) as JsonValue;
  if (field.fieldKind === "enum") return cell;
  if (field.scalar === ScalarType.BOOL) return /^(true|1|yes)$/i.test(cell);
  if (isJsonNumber(field.scalar)) return Number(cell);
  return cell; // strings, 64-bit integers and base64 bytes stay text
}
