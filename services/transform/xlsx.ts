/**
 * XLSX read and write with exceljs, on the sandbox's threads (worker.ts): a workbook is a zip, so
 * its declared unpacked size is checked before anything is inflated, and the thread's heap and
 * time limits bound the rest.
 */
import ExcelJS from "exceljs";
import { maxCells, maxColumns } from "./bounds.js";
import type { Table } from "./formats.js";

/** Largest workbook unpacked, by the sizes its zip directory declares. */
export const maxUnpackedBytes = 200 * 1024 * 1024;

/** Reading a workbook. */
export interface XlsxReadTask {
  kind: "xlsxRead";
  data: Uint8Array;
  sheet: string;
  noHeader: boolean;
}

/** Writing a table (formats.ts's `table`) to a workbook. */
export interface XlsxWriteTask {
  kind: "xlsxWrite";
  table: Table;
  sheet: string;
}

/** Sum of the uncompressed sizes a zip's central directory declares, or undefined when it is not a zip. */
export function declaredUnpackedSize(zip: Uint8Array): number | undefined {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535.
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) return undefined;
  const entries = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  let total = 0;
  for (let n = 0; n < entries; n++) {
    if (at + 46 > zip.length || view.getUint32(at, true) !== 0x02014b50) return undefined;
    total += view.getUint32(at + 24, true);
    at += 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return total;
}

/** A cell's value as JSON: formulas by their result, rich text and links by their text, dates as ISO text. */
function cellValue(v: ExcelJS.CellValue): unknown {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v !== "object") return v;
  if ("richText" in v) return v.richText.map((r) => r.text).join("");
  if ("formula" in v || "sharedFormula" in v) return cellValue((v as ExcelJS.CellFormulaValue).result ?? null);
  if ("hyperlink" in v) return (v as ExcelJS.CellHyperlinkValue).text;
  if ("error" in v) return (v as ExcelJS.CellErrorValue).error;
  return String(v);
}

/** Column letters: 1 → A, 27 → AA. */
function columnName(n: number): string {
  let name = "";
  for (let i = n; i > 0; i = Math.floor((i - 1) / 26)) name = String.fromCharCode(65 + ((i - 1) % 26)) + name;
  return name;
}

/** Reads one sheet as records (the first row naming the columns, unless noHeader). */
export async function readXlsx(task: XlsxReadTask): Promise<unknown[]> {
  const size = declaredUnpackedSize(task.data);
  if (size === undefined) throw new Error("is not an XLSX workbook (no zip directory found)");
  if (size > maxUnpackedBytes) throw new Error(`unpacks to ${size} bytes, more than the ${maxUnpackedBytes} allowed`);
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength) as never);
  const sheet = task.sheet ? workbook.getWorksheet(task.sheet) : workbook.worksheets[0];
  if (!sheet) {
    const names = workbook.worksheets.map((w) => w.name).join(", ");
    throw new Error(task.sheet ? `has no sheet "${task.sheet}" (it has: ${names})` : "has no sheets");
  }
  // The sheet's extent is known once it is loaded: bounded before its cells are read out.
  if (sheet.columnCount > maxColumns)
    throw new Error(`has a sheet of ${sheet.columnCount} columns; at most ${maxColumns} are read`);
  if (sheet.rowCount * sheet.columnCount > maxCells)
    throw new Error(
      `has a sheet of ${sheet.rowCount} rows by ${sheet.columnCount} columns; at most ${maxCells} cells are read`,
    );
  const rows: unknown[][] = [];
  sheet.eachRow({ includeEmpty: false }, (row) => {
    const values: unknown[] = [];
    for (let c = 1; c <= sheet.columnCount; c++) values.push(cellValue(row.getCell(c).value));
    rows.push(values);
  });
  const header =
    task.noHeader || rows.length === 0
      ? Array.from({ length: sheet.columnCount }, (_, i) => columnName(i + 1))
      : (rows.shift() ?? []).map((h, i) => (h === null || h === "" ? columnName(i + 1) : String(h)));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? null])));
}

/** Writes a table to one sheet, its columns as the header row. */
export async function writeXlsx(task: XlsxWriteTask): Promise<Uint8Array> {
  const { columns, rows } = task.table;
  const workbook = new ExcelJS.Workbook();
  const sheet = workbook.addWorksheet(task.sheet || "Sheet1");
  sheet.addRow(columns);
  for (const r of rows) sheet.addRow(columns.map((c) => r[c] ?? null));
  return new Uint8Array(await workbook.xlsx.writeBuffer());
}
