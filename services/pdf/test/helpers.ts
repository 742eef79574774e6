/** A PdfService client over connect's in-memory transport, and PDFs made with known text. */
import { PDFDocument, StandardFonts } from "pdf-lib";
import { PdfService } from "#gen/flowforge/pdf/v1/pdf_pb.js";
import { inProcessClient } from "#test/support/in-process.js";
import { createPdfService, type PdfServiceOptions } from "../service.js";

/** A typed client whose calls run the real handlers in-process, and what closes its thread pool. */
export const pdfClient = (options: PdfServiceOptions = {}) => inProcessClient(PdfService, createPdfService(options));

/** A PDF with one page per entry of `pages`, each line of it drawn in Helvetica. */
export async function makePdf(pages: string[][], o: { title?: string; size?: [number, number] } = {}) {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  if (o.title) doc.setTitle(o.title);
  doc.setAuthor("FlowForge tests");
  for (const lines of pages) {
    const page = doc.addPage(o.size ?? [595.28, 841.89]);
    for (const [i, line] of lines.entries())
      page.drawText(line, { x: 72, y: page.getHeight() - 72 - i * 20, size: 12, font });
  }
  return doc.save();
}

/**
 * A PDF written object by object (1-based, in order), with a correct cross-reference table:
 * for documents pdf-lib would not write (hostile ones). A Buffer object is a stream's bytes.
 */
export function rawPdf(objects: (string | { dict: string; stream: Buffer })[]): Uint8Array {
  const parts: Buffer[] = [];
  let length = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    length += b.length;
  };
  push(Buffer.from("%PDF-1.7\n", "latin1"));
  const offsets: number[] = [];
  for (const [i, o] of objects.entries()) {
    offsets.push(length);
    if (typeof o === "string") push(Buffer.from(`${i + 1} 0 obj\n${o}\nendobj\n`, "latin1"));
    else {
      push(Buffer.from(`${i + 1} 0 obj\n<< ${o.dict} /Length ${o.stream.length} >>\nstream\n`, "latin1"));
      push(o.stream);
      push(Buffer.from("\nendstream\nendobj\n", "latin1"));
    }
  }
  const xref = length;
  const rows = offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("");
  push(
    Buffer.from(
      `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${rows}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`,
      "latin1",
    ),
  );
  return new Uint8Array(Buffer.concat(parts));
}
