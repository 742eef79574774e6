/**
 * Markdown typeset as a PDF without a browser: marked reads it (CommonMark and GitHub's tables),
 * pdfmake lays it out (Roboto, from its own package). Images are never fetched (their alt text
 * stands in); raw HTML is shown as text. Runs on the sandbox threads.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type { Token, Tokens } from "marked";

const require = createRequire(import.meta.url);

/** pdfmake and marked, loaded on first use: they would slow the start of every PDF thread. */
let libraries: Promise<{ pdfmake: typeof import("pdfmake"); lexer: typeof import("marked").lexer }> | undefined;
function load() {
  libraries ??= Promise.all([import("pdfmake"), import("marked")]).then(([p, m]) => {
    const pdfmake = (p as { default?: typeof import("pdfmake") }).default ?? p;
    const fontsDir = dirname(require.resolve("pdfmake/fonts/Roboto.js"));
    pdfmake.addFonts(require("pdfmake/fonts/Roboto.js"));
    // Nothing outside pdfmake's own fonts is read, and nothing is fetched.
    pdfmake.setUrlAccessPolicy(() => false);
    pdfmake.setLocalAccessPolicy((path: string) => path.startsWith(fontsDir));
    return { pdfmake, lexer: m.lexer };
  });
  return libraries;
}

type Content = Record<string, unknown> | string | Content[];

const headingSizes = [0, 22, 18, 15, 13, 12, 11];

/** Inline tokens as pdfmake text runs. */
function inline(tokens: Token[] | undefined, style: Record<string, unknown> = {}): Content[] {
  const out: Content[] = [];
  for (const t of tokens ?? []) {
    switch (t.type) {
      case "strong":
        out.push(...inline((t as Tokens.Strong).tokens, { ...style, bold: true }));
        break;
      case "em":
        out.push(...inline((t as Tokens.Em).tokens, { ...style, italics: true }));
        break;
      case "del":
        out.push(...inline((t as Tokens.Del).tokens, { ...style, decoration: "lineThrough" }));
        break;
      case "codespan":
        out.push({ text: (t as Tokens.Codespan).text, ...style, background: "#eeeeee" });
        break;
      case "link":
        out.push(...inline((t as Tokens.Link).tokens, { ...style, color: "#1a56db", link: (t as Tokens.Link).href }));
        break;
      case "image":
        out.push({ text: `[${(t as Tokens.Image).text || "image"}]`, ...style, italics: true });
        break;
      case "br":
        out.push("\n");
        break;
      case "text":
        if ((t as Tokens.Text).tokens) out.push(...inline((t as Tokens.Text).tokens, style));
        else out.push({ text: decodeEntities((t as Tokens.Text).text), ...style });
        break;
      case "escape":
        out.push({ text: (t as Tokens.Escape).text, ...style });
        break;
      default:
        out.push({ text: decodeEntities((t as { raw: string }).raw), ...style });
    }
  }
  return out;
}

const entities: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };
const decodeEntities = (text: string) => text.replace(/&(amp|lt|gt|quot|#39);/g, (e) => entities[e]);

/** Block tokens as pdfmake content. */
function blocks(tokens: Token[]): Content[] {
  const out: Content[] = [];
  for (const t of tokens) {
    switch (t.type) {
      case "heading": {
        const h = t as Tokens.Heading;
        out.push({ text: inline(h.tokens), fontSize: headingSizes[h.depth], bold: true, margin: [0, 10, 0, 4] });
        break;
      }
      case "paragraph":
        out.push({ text: inline((t as Tokens.Paragraph).tokens), margin: [0, 0, 0, 6] });
        break;
      case "list": {
        const l = t as Tokens.List;
        const items = l.items.map((item) => {
          const content = blocks(item.tokens);
          return item.task ? [{ text: `${item.checked ? "☑" : "☐"} `, margin: [0, 0, 0, 0] }, ...content] : content;
        });
        out.push(
          l.ordered
            ? { ol: items, start: Number(l.start) || 1, margin: [0, 0, 0, 6] }
            : { ul: items, margin: [0, 0, 0, 6] },
        );
        break;
      }
      case "code":
        out.push({
          table: {
            widths: ["*"],
            body: [[{ text: (t as Tokens.Code).text, fontSize: 9, preserveLeadingSpaces: true }]],
          },
          layout: { fillColor: () => "#f4f4f4", hLineWidth: () => 0, vLineWidth: () => 0 },
          margin: [0, 0, 0, 6],
        });
        break;
      case "blockquote":
        out.push({
          stack: blocks((t as Tokens.Blockquote).tokens),
          margin: [16, 0, 0, 6],
          color: "#555555",
          italics: true,
        });
        break;
      case "table": {
        const table = t as Tokens.Table;
        const header = table.header.map((c) => ({ text: inline(c.tokens), bold: true, alignment: c.align ?? "left" }));
        const rows = table.rows.map((r) => r.map((c) => ({ text: inline(c.tokens), alignment: c.align ?? "left" })));
        out.push({
          table: { headerRows: 1, widths: header.map(() => "auto"), body: [header, ...rows] },
          layout: "lightHorizontalLines",
          margin: [0, 0, 0, 8],
        });
        break;
      }
      case "hr":
        out.push({ canvas: [{ type: "line", x1: 0, y1: 0, x2: 515, y2: 0, lineWidth: 0.5 }], margin: [0, 6, 0, 6] });
        break;
      case "html":
        out.push({ text: (t as Tokens.HTML).text, margin: [0, 0, 0, 6] });
        break;
      case "text":
        out.push({ text: inline((t as Tokens.Text).tokens ?? [t]) });
        break;
      case "space":
        break;
      default:
        out.push({ text: (t as { raw: string }).raw });
    }
  }
  return out;
}

/** The document: A4 or Letter, with its title from the request or the first heading. */
export async function markdownToPdf(markdown: string, pageSize: "A4" | "LETTER", title: string) {
  const { pdfmake, lexer } = await load();
  const tokens = lexer(markdown, { gfm: true });
  const heading = tokens.find((t) => t.type === "heading") as Tokens.Heading | undefined;
  const doc = pdfmake.createPdf({
    pageSize,
    pageMargins: [50, 50, 50, 50],
    info: { title: title || heading?.text || "Document", producer: "FlowForge" },
    defaultStyle: { font: "Roboto", fontSize: 11, lineHeight: 1.2 },
    content: blocks(tokens) as never,
  });
  const pdf = await doc.getBuffer();
  return new Uint8Array(pdf.buffer, pdf.byteOffset, pdf.byteLength);
}
