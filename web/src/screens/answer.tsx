/**
 * An answer as the console shows it: its JSON (as text: nothing in an answer is ever run as
 * HTML), the files in it downloadable (images and PDFs previewed), and the request id; or an
 * error with its code, message, field violations and request id.
 */
import type { DescMessage, Message } from "@bufbuild/protobuf";
import { ScalarType, toJson } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { Code, type ConnectError } from "@connectrpc/connect";
import { useEffect, useMemo } from "react";
import { registry } from "../services.js";
import { FilePreview } from "../parts/preview.js";

/** A file found in an answer: its field path, bytes and media type (named or sniffed). */
interface AnswerFile {
  path: string;
  bytes: Uint8Array;
  type: string;
}

/** What the magic bytes say a file is. */
function sniff(bytes: Uint8Array): string {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x25, 0x50, 0x44, 0x46)) return "application/pdf";
  if (starts(0x89, 0x50, 0x4e, 0x47)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38)) return "image/gif";
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45) return "image/webp";
  return "application/octet-stream";
}

/** Every non-empty bytes field of `message`, depth first. */
function filesIn(message: ReflectMessage, path = ""): AnswerFile[] {
  const out: AnswerFile[] = [];
  const contentType = message.fields.find((f) => f.name === "content_type");
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    const at = path ? `${path}.${field.name}` : field.name;
    if (field.fieldKind === "scalar" && field.scalar === ScalarType.BYTES) {
      const bytes = message.get(field) as Uint8Array;
      const named = contentType ? String(message.get(contentType)) : "";
      out.push({ path: at, bytes, type: named || sniff(bytes) });
    } else if (field.fieldKind === "message") {
      out.push(...filesIn(message.get(field) as ReflectMessage, at));
    } else if (field.fieldKind === "list" && field.listKind === "message") {
      let i = 0;
      for (const item of message.get(field) as Iterable<ReflectMessage>) out.push(...filesIn(item, `${at}[${i++}]`));
    } else if (field.fieldKind === "list" && field.listKind === "scalar" && field.scalar === ScalarType.BYTES) {
      let i = 0;
      for (const bytes of message.get(field) as Iterable<Uint8Array>)
        out.push({ path: `${at}[${i++}]`, bytes, type: sniff(bytes) });
    }
  }
  return out;
}

const extension: Record<string, string> = {
  "application/pdf": "pdf",
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
};

function FileView({ file }: { file: AnswerFile }) {
  const url = useMemo(() => URL.createObjectURL(new Blob([file.bytes as BlobPart], { type: file.type })), [file]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  const name = `${file.path.replace(/[^\w.-]+/g, "_")}.${extension[file.type] ?? "bin"}`;
  return (
    <figure className="answer-file">
      <figcaption>
        <code>{file.path}</code> · {file.type} · {file.bytes.length.toLocaleString()} bytes ·{" "}
        <a href={url} download={name}>
          Download {name}
        </a>
      </figcaption>
      <FilePreview url={url} type={file.type} label={`${file.path} of the answer`} />
    </figure>
  );
}

/** A successful answer. */
export function AnswerView({
  schema,
  message,
  requestId,
}: {
  schema: DescMessage;
  message: Message;
  requestId?: string;
}) {
  const json = useMemo(() => JSON.stringify(toJson(schema, message, { registry }), null, 2), [schema, message]);
  const files = useMemo(() => filesIn(reflect(schema, message)), [schema, message]);
  return (
    <section className="answer" aria-label="Answer">
      <h3>Answer</h3>
      {requestId && (
        <p className="request-id">
          request id <code>{requestId}</code>
        </p>
      )}
      {files.map((f) => (
        <FileView key={f.path} file={f} />
      ))}
      <pre className="json">{json}</pre>
    </section>
  );
}

/** A refused call: code, message, violations (also shown on their fields) and request id. */
export function ErrorView({
  error,
  violations,
}: {
  error: ConnectError;
  violations: { field: string; description: string }[];
}) {
  return (
    <section className="answer error" aria-label="Error" role="alert">
      <h3>
        Error <code>{Code[error.code]}</code>
      </h3>
      <p className="message">{error.rawMessage}</p>
      {violations.length > 0 && (
        <ul>
          {violations.map((v) => (
            <li key={`${v.field}:${v.description}`}>
              <code>{v.field}</code>: {v.description}
            </li>
          ))}
        </ul>
      )}
      {error.metadata.get("x-request-id") && (
        <p className="request-id">
          request id <code>{error.metadata.get("x-request-id")}</code>
        </p>
      )}
    </section>
  );
}
