/**
 * PDF tasks beyond pages and text, on the sandbox threads: embedded images out (pdf.js decodes
 * them; the service encodes PNG), an image stamped on pages, AcroForm fields listed, filled and
 * flattened (pdf-lib), images made into pages, and the image streams Compress re-encodes. Image
 * bytes going in were checked and normalised by the service (sharp) before they came here.
 */
import {
  PDFCheckBox,
  type PDFDict,
  PDFDocument,
  PDFDropdown,
  PDFName,
  PDFNumber,
  PDFOptionList,
  PDFRadioGroup,
  PDFRawStream,
  PDFRef,
  PDFSignature,
  PDFTextField,
  PDFButton,
} from "pdf-lib";
import { extractImages, getDocumentProxy } from "unpdf";
import {
  checkInflation,
  type Input,
  load,
  maxImagePixels,
  type PageList,
  pageGroups,
  save,
  Unusable,
} from "./document.js";

/** An image as the service hands it over: PNG or JPEG bytes, and its size in points. */
export interface PageImage {
  data: Uint8Array;
  format: "png" | "jpeg";
  /** The page size: the image's at its resolution, or a paper size it is fitted into. */
  page: { width: number; height: number; fit: boolean };
}

/** Where an image stamp goes. */
export interface ImageStamp {
  image: Uint8Array;
  format: "png" | "jpeg";
  position: "center" | `${"top" | "bottom"}_${"left" | "center" | "right"}`;
  scale: number;
  opacity: number;
  pages?: PageList;
}

/** A form field as listed. */
export interface Field {
  name: string;
  kind: "text" | "checkbox" | "radio" | "dropdown" | "list" | "button" | "signature" | "unknown";
  value: string;
  options: string[];
  readOnly: boolean;
  required: boolean;
}

/** An image stream Compress may re-encode. */
export interface ImageStream {
  ref: [number, number];
  data: Uint8Array;
  filter: "DCTDecode" | "FlateDecode";
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Raw pixels of the images found on the pages asked for (the service encodes them). */
export async function embeddedImages(input: Input, pages: PageList | undefined, minSize: number, maxPixels: number) {
  const doc = await load(input);
  checkInflation(doc, input.field);
  const indices = pages ? pageGroups(pages, doc.getPageCount()).flat() : doc.getPageIndices();
  const pdf = await getDocumentProxy(new Uint8Array(input.data), { maxImageSize: maxImagePixels });
  const images: { page: number; width: number; height: number; channels: number; pixels: Uint8Array }[] = [];
  let total = 0;
  try {
    for (const index of [...new Set(indices)]) {
      for (const image of await extractImages(pdf, index + 1)) {
        if (image.width < minSize || image.height < minSize) continue;
        total += image.width * image.height;
        if (total > maxPixels)
          throw new Unusable(
            input.field,
            `holds more than ${maxPixels / 1e6} megapixels of images: ask for fewer pages`,
          );
        const pixels = new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength);
        images.push({ page: index + 1, width: image.width, height: image.height, channels: image.channels, pixels });
      }
    }
  } finally {
    await pdf.destroy();
  }
  return { images };
}

/** How far from the page's edge stamps sit, in points. */
const margin = 36;

/** Draws an image on the chosen pages. */
export async function stampImage(input: Input, s: ImageStamp) {
  const doc = await load(input);
  const image = s.format === "png" ? await doc.embedPng(s.image) : await doc.embedJpg(s.image);
  const chosen = s.pages ? new Set(pageGroups(s.pages, doc.getPageCount()).flat()) : undefined;
  for (const [i, page] of doc.getPages().entries()) {
    if (chosen && !chosen.has(i)) continue;
    const { width: pw, height: ph } = page.getSize();
    const width = pw * s.scale;
    const height = (width * image.height) / image.width;
    const [vertical, horizontal] = s.position === "center" ? ["center", "center"] : s.position.split("_");
    const x = horizontal === "left" ? margin : horizontal === "right" ? pw - margin - width : (pw - width) / 2;
    const y = vertical === "top" ? ph - margin - height : vertical === "bottom" ? margin : (ph - height) / 2;
    page.drawImage(image, { x, y, width, height, opacity: s.opacity });
  }
  return { parts: [await save(doc)], pageCounts: [doc.getPageCount()] };
}

/** The form's fields, or none when it has no form. */
export async function formFields(input: Input): Promise<{ fields: Field[] }> {
  const doc = await load(input);
  const fields = doc
    .getForm()
    .getFields()
    .map((f): Field => {
      const base = { name: f.getName(), readOnly: f.isReadOnly(), required: f.isRequired(), options: [] as string[] };
      if (f instanceof PDFTextField) return { ...base, kind: "text", value: f.getText() ?? "" };
      if (f instanceof PDFCheckBox) return { ...base, kind: "checkbox", value: String(f.isChecked()) };
      if (f instanceof PDFRadioGroup)
        return { ...base, kind: "radio", value: f.getSelected() ?? "", options: f.getOptions() };
      if (f instanceof PDFDropdown)
        return { ...base, kind: "dropdown", value: f.getSelected().join(","), options: f.getOptions() };
      if (f instanceof PDFOptionList)
        return { ...base, kind: "list", value: f.getSelected().join(","), options: f.getOptions() };
      if (f instanceof PDFButton) return { ...base, kind: "button", value: "" };
      if (f instanceof PDFSignature) return { ...base, kind: "signature", value: "" };
      return { ...base, kind: "unknown", value: "" };
    });
  return { fields };
}

/** Sets fields by name (each refused value names its field: `values[name]`), then flattens when asked. */
export async function fillForm(input: Input, values: Record<string, string>, flatten: boolean) {
  const doc = await load(input);
  const form = doc.getForm();
  for (const [name, value] of Object.entries(values)) {
    const at = `values[${name}]`;
    const field = form.getFields().find((f) => f.getName() === name);
    if (!field) throw new Unusable(at, `the form has no field "${name}"`);
    const choose = (options: string[], wanted: string[]) => {
      for (const w of wanted)
        if (!options.includes(w)) throw new Unusable(at, `"${w}" is not one of its options: ${options.join(", ")}`);
    };
    if (field instanceof PDFTextField) {
      const max = field.getMaxLength();
      if (max !== undefined && value.length > max)
        throw new Unusable(at, `is longer than the field's ${max} characters`);
      field.setText(value);
    } else if (field instanceof PDFCheckBox) {
      if (value !== "true" && value !== "false") throw new Unusable(at, `must be "true" or "false" for a check box`);
      if (value === "true") field.check();
      else field.uncheck();
    } else if (field instanceof PDFRadioGroup) {
      choose(field.getOptions(), [value]);
      field.select(value);
    } else if (field instanceof PDFDropdown) {
      choose(field.getOptions(), [value]);
      field.select(value);
    } else if (field instanceof PDFOptionList) {
      const wanted = value
        .split(",")
        .map((v) => v.trim())
        .filter(Boolean);
      choose(field.getOptions(), wanted);
      field.select(wanted);
    } else throw new Unusable(at, "is a field that takes no value (a button or a signature)");
  }
  if (flatten) form.flatten();
  return { parts: [await save(doc)], pageCounts: [doc.getPageCount()] };
}

/** Draws every field's value into its page and removes the form. */
export async function flattenForm(input: Input) {
  const doc = await load(input);
  doc.getForm().flatten();
  return { parts: [await save(doc)], pageCounts: [doc.getPageCount()] };
}

/** A document of one image a page. */
export async function imagesToPdf(images: PageImage[]) {
  const doc = await PDFDocument.create();
  for (const img of images) {
    const embedded = img.format === "png" ? await doc.embedPng(img.data) : await doc.embedJpg(img.data);
    const page = doc.addPage([img.page.width, img.page.height]);
    if (!img.page.fit) {
      page.drawImage(embedded, { x: 0, y: 0, width: img.page.width, height: img.page.height });
      continue;
    }
    const room = { width: img.page.width - 2 * margin, height: img.page.height - 2 * margin };
    const scale = Math.min(room.width / embedded.width, room.height / embedded.height);
    const [w, h] = [embedded.width * scale, embedded.height * scale];
    page.drawImage(embedded, { x: (img.page.width - w) / 2, y: (img.page.height - h) / 2, width: w, height: h });
  }
  return { merged: await save(doc), pageCount: doc.getPageCount() };
}

/** The information dictionary's entries, from one document to another. */
function copyMetadata(from: PDFDocument, to: PDFDocument) {
  const title = from.getTitle();
  if (title) to.setTitle(title);
  const author = from.getAuthor();
  if (author) to.setAuthor(author);
  const subject = from.getSubject();
  if (subject) to.setSubject(subject);
  const keywords = from.getKeywords();
  if (keywords) to.setKeywords([keywords]);
  to.setCreator(from.getCreator() ?? "");
  to.setProducer(from.getProducer() ?? "");
  const created = from.getCreationDate();
  if (created) to.setCreationDate(created);
  to.setModificationDate(new Date());
}

const name = (dict: PDFDict, key: string) => dict.lookupMaybe(PDFName.of(key), PDFName)?.asString();
const number = (dict: PDFDict, key: string) => dict.lookupMaybe(PDFName.of(key), PDFNumber)?.asNumber();

/**
 * The images Compress can re-encode: 8-bit grey or RGB, as JPEG (DCTDecode) or zlib (FlateDecode
 * without a predictor), without a mask or a decode array. Anything else is left as it is.
 */
export async function imageStreams(input: Input, minBytes: number): Promise<{ streams: ImageStream[] }> {
  const doc = await load(input);
  const streams: ImageStream[] = [];
  for (const [ref, object] of doc.context.enumerateIndirectObjects()) {
    if (!(object instanceof PDFRawStream)) continue;
    const dict = object.dict;
    if (name(dict, "Subtype") !== "/Image" || object.contents.length < minBytes) continue;
    const filter = name(dict, "Filter");
    if (filter !== "/DCTDecode" && filter !== "/FlateDecode") continue;
    if (dict.has(PDFName.of("DecodeParms")) || dict.has(PDFName.of("SMask")) || dict.has(PDFName.of("Mask"))) continue;
    if (dict.has(PDFName.of("Decode")) || number(dict, "BitsPerComponent") !== 8) continue;
    const space = name(dict, "ColorSpace");
    const channels = space === "/DeviceRGB" ? 3 : space === "/DeviceGray" ? 1 : undefined;
    const [width, height] = [number(dict, "Width"), number(dict, "Height")];
    if (!channels || !width || !height) continue;
    streams.push({
      ref: [ref.objectNumber, ref.generationNumber],
      data: object.contents,
      filter: filter.slice(1) as ImageStream["filter"],
      width,
      height,
      channels,
    });
  }
  return { streams };
}

/**
 * The document with these image streams replaced by JPEGs, unused objects dropped (pages copied
 * into a new document take only what they use) and objects packed into compressed streams.
 */
export async function replaceImages(
  input: Input,
  replacements: { ref: [number, number]; jpeg: Uint8Array; width: number; height: number; channels: 1 | 3 }[],
) {
  const doc = await load(input);
  for (const r of replacements) {
    const ref = PDFRef.of(r.ref[0], r.ref[1]);
    const old = doc.context.lookup(ref);
    if (!(old instanceof PDFRawStream)) continue;
    const dict = old.dict.clone(doc.context);
    dict.set(PDFName.of("Filter"), PDFName.of("DCTDecode"));
    dict.set(PDFName.of("Width"), PDFNumber.of(r.width));
    dict.set(PDFName.of("Height"), PDFNumber.of(r.height));
    dict.set(PDFName.of("ColorSpace"), PDFName.of(r.channels === 3 ? "DeviceRGB" : "DeviceGray"));
    dict.delete(PDFName.of("DecodeParms"));
    dict.set(PDFName.of("Length"), PDFNumber.of(r.jpeg.length));
    doc.context.assign(ref, PDFRawStream.of(dict, r.jpeg));
  }
  const out = await PDFDocument.create({ updateMetadata: false });
  for (const page of await out.copyPages(doc, doc.getPageIndices())) out.addPage(page);
  copyMetadata(doc, out);
  return { merged: await save(out, { useObjectStreams: true }), pageCount: out.getPageCount() };
}
