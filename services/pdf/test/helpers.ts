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
