/** A file shown where it was chosen or answered: images inline, PDFs in the browser's viewer. */

/** A preview of the file at `url` (an object URL), or nothing for other types. */
export function FilePreview({ url, type, label }: { url: string; type: string; label: string }) {
  if (type.startsWith("image/")) return <img className="preview" src={url} alt={label} />;
  if (type === "application/pdf") return <iframe className="preview" src={url} title={`${label} (PDF)`} />;
  return null;
}
