/** Answers that are files: a file stream written as the file, or an answer's one file (inline bytes or a blob). */
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { BlobStore } from "#blobs/index.js";
import { type Req, type Res, writePaced } from "../node-http.js";
import { restRefusal, writeRestError } from "./envelope.js";
import { fileExtensions } from "#sdk/input.js";
import { filesOf, sniffType, writeFileHead } from "./files.js";

/** `name` with the extension of `contentType` (`.bin` for a type without one). */
const withExtension = (name: string, contentType: string) => `${name}.${fileExtensions[contentType] ?? "bin"}`;

/** What answerFile needs: the call, the answer and whose blobs it may name. */
export interface FileAnswer {
  req: Req;
  res: Res;
  schema: DescMessage;
  answered: Record<string, unknown>;
  /** The file's name without its extension (the method's, `select-pages`), when the answer gives none. */
  name: string;
  requestId: string;
  tenant: string;
  /** Where blobs are read; an answer naming one fails without it. */
  store?: BlobStore;
}

/** A file stream (a description, then chunks) as the file itself; resolves to the bytes sent. */
export async function streamFile(res: Res, stream: AsyncIterable<Record<string, unknown>>, requestId: string) {
  let sent = 0;
  for await (const message of stream) {
    const part = message.part as { case: string; value: unknown };
    if (part.case === "chunk") {
      const chunk = part.value as Uint8Array;
      sent += chunk.length;
      if (!(await writePaced(res, chunk))) return sent; // the caller went away: the stream is cancelled
      continue;
    }
    const blob = part.value as { size: bigint; sha256: string; contentType: string; filename: string };
    writeFileHead(res, { ...blob, size: Number(blob.size), requestId });
  }
  res.end();
  return sent;
}

/** An answer's one file, written as itself (bytes inline, or a blob of the tenant); 406 when the answer holds none or several. */
export async function answerFile({ req, res, schema, answered, name, requestId, tenant, store }: FileAnswer) {
  const files = filesOf(schema, answered);
  if (files.length !== 1) {
    const refusal = restRefusal(
      "NOT_ACCEPTABLE",
      `the answer holds ${files.length} files, not one: ask for JSON (Accept: application/json)${files.length > 1 ? " or for fewer pages" : ""}`,
      requestId,
    );
    return writeRestError({ req, res, error: refusal, requestId });
  }
  const [file] = files;
  if (file.data) {
    const contentType = file.contentType || sniffType(file.data);
    writeFileHead(res, { contentType, filename: withExtension(name, contentType), size: file.data.length, requestId });
    res.end(file.data);
    return;
  }
  if (!store) throw new ConnectError("the answer is a blob and this gateway has no blob store", Code.Internal);
  const { info, body } = await store.open(tenant, file.blobId!);
  writeFileHead(res, {
    ...info,
    filename: info.filename || withExtension(name, info.contentType),
    size: info.size,
    requestId,
  });
  for await (const chunk of body) if (!(await writePaced(res, chunk))) return; // the caller went away
  res.end();
}
