/**
 * File fields: a `bytes` field as a file drop sent inline as base64, and a file reference
 * (`FileRef`, the PDF `Document`) inline up to the form's limit, else uploaded to the blob store
 * and sent by id, with a preview of images and PDFs.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { useState } from "react";
import type { FormContext } from "./context.js";
import { FilePreview } from "../parts/preview.js";
import { isObject } from "./model.js";

/** Reads a dropped or chosen file. */
function FileInput({
  aria,
  onFile,
  accept,
}: {
  aria: { id: string; "aria-describedby"?: string };
  onFile(file: File): void;
  accept?: string;
}) {
  const [over, setOver] = useState(false);
  return (
    <fieldset
      className={`drop${over ? " over" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        const file = e.dataTransfer.files[0];
        if (file) onFile(file);
      }}
    >
      <legend className="visually-hidden">File: choose or drop one</legend>
      <input {...aria} type="file" accept={accept} onChange={(e) => e.target.files?.[0] && onFile(e.target.files[0])} />
      <span aria-hidden="true">or drop a file here</span>
    </fieldset>
  );
}

/** A `bytes` field: a file, inline as base64. */
export function FileBytes({
  aria,
  value,
  onChange,
}: {
  aria: { id: string; "aria-describedby"?: string };
  value: JsonValue | undefined;
  onChange(v: JsonValue | undefined): void;
}) {
  const [name, setName] = useState<string>();
  return (
    <div>
      <FileInput
        aria={aria}
        onFile={async (file) => {
          setName(`${file.name} (${file.size.toLocaleString()} bytes)`);
          onChange(base64Encode(new Uint8Array(await file.arrayBuffer())));
        }}
      />
      {typeof value === "string" && value && (
        <p className="file">{name ?? `${Math.floor((value.length * 3) / 4)} bytes`}</p>
      )}
    </div>
  );
}

/** A file reference: inline up to the limit, else uploaded to the blob store and sent by id. */
export function FileReference({
  id,
  value,
  onChange,
  ctx,
  ...rest
}: {
  id: string;
  value: JsonValue | undefined;
  onChange(v: JsonValue | undefined): void;
  ctx: FormContext;
  "aria-describedby"?: string;
}) {
  const [state, setState] = useState<string>();
  const [preview, setPreview] = useState<{ url: string; type: string }>();
  return (
    <div>
      <FileInput
        aria={{ id, ...rest }}
        onFile={async (file) => {
          if (preview) URL.revokeObjectURL(preview.url);
          setPreview({ url: URL.createObjectURL(file), type: file.type });
          if (file.size <= ctx.inlineLimit) {
            setState(`${file.name}: ${file.size.toLocaleString()} bytes, sent inline`);
            onChange({ data: base64Encode(new Uint8Array(await file.arrayBuffer())) });
            return;
          }
          setState(`${file.name}: uploading ${file.size.toLocaleString()} bytes to the blob store…`);
          try {
            const blobId = await ctx.upload(file);
            setState(`${file.name}: ${file.size.toLocaleString()} bytes, blob ${blobId}`);
            onChange({ blobId });
          } catch (err) {
            setState(`${file.name}: ${(err as Error).message}`);
            onChange(undefined);
          }
        }}
      />
      {state && (
        <p className="file" role="status">
          {state}
        </p>
      )}
      {preview && <FilePreview url={preview.url} type={preview.type} label="the chosen file" />}
      {isObject(value) && typeof value.blobId === "string" && !state && <p className="file">blob {value.blobId}</p>}
    </div>
  );
}
