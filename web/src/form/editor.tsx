/**
 * The request form of any method, generated from its input message's descriptor: enums as selects
 * with their short names, repeated fields as lists, maps as key/value rows, oneofs as tabs, nested
 * messages as sections, bytes and file references as file drops, Struct/Value as JSON text. Field
 * comments come from the OpenAPI document; a field's violations from the last answer show under it.
 */
import {
  type DescField,
  type DescMessage,
  type DescOneof,
  type JsonObject,
  type JsonValue,
  ScalarType,
} from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { type ReactNode, useId, useState } from "react";
import { type ApiDocument, fieldDoc } from "../services.js";
import { enumLabel, isJsonNumber, isObject, messageEditorKind, newElement } from "./model.js";

/** What every editor below needs besides its value. */
export interface FormContext {
  doc?: ApiDocument;
  /** Violation descriptions by field path without indexes (`document.data`), from the last error. */
  violations: Map<string, string[]>;
  /** Files past this size go to the blob store instead of inline. */
  inlineLimit: number;
  /** Uploads a file to the blob store, resolving to its id. */
  upload(file: File): Promise<string>;
}

interface EditorProps<V> {
  value: V | undefined;
  onChange(value: V | undefined): void;
  /** The field path (`document.data`) for violations, and a prefix for ids. */
  path: string;
  ctx: FormContext;
}

/** Every field of `message`, oneofs as tabs. */
export function MessageFields({
  message,
  value,
  onChange,
  path,
  ctx,
}: EditorProps<JsonObject> & { message: DescMessage }) {
  const current = value ?? {};
  const set = (key: string, v: JsonValue | undefined) => {
    const next = { ...current };
    if (v === undefined) delete next[key];
    else next[key] = v;
    onChange(next);
  };
  return (
    <div className="fields">
      {message.members.map((member) =>
        member.kind === "oneof" ? (
          <OneofTabs key={member.name} oneof={member} value={current} onChange={onChange} path={path} ctx={ctx} />
        ) : (
          <FieldRow
            key={member.name}
            field={member}
            value={current[member.jsonName]}
            onChange={(v) => set(member.jsonName, v)}
            path={join(path, member.name)}
            ctx={ctx}
          />
        ),
      )}
    </div>
  );
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** A oneof: one tab per member; choosing one clears the others. */
function OneofTabs({
  oneof,
  value,
  onChange,
  path,
  ctx,
}: EditorProps<JsonObject> & { oneof: DescOneof; value: JsonObject }) {
  const setMember = oneof.fields.find((f) => f.jsonName in value);
  const [chosen, choose] = useState<DescField>(setMember ?? oneof.fields[0]);
  const id = useId();
  const select = (field: DescField) => {
    choose(field);
    const next = { ...value };
    for (const f of oneof.fields) if (f !== field) delete next[f.jsonName];
    onChange(next);
  };
  return (
    <fieldset className="oneof">
      <legend>{oneof.name} (one of)</legend>
      <div role="tablist" aria-label={`${oneof.name}: one of`}>
        {oneof.fields.map((f) => (
          <button
            key={f.name}
            type="button"
            role="tab"
            id={`${id}-${f.name}`}
            aria-selected={f === chosen}
            onClick={() => select(f)}
          >
            {f.name}
          </button>
        ))}
      </div>
      <div role="tabpanel" aria-labelledby={`${id}-${chosen.name}`}>
        <FieldRow
          field={chosen}
          value={value[chosen.jsonName]}
          onChange={(v) => {
            const next = { ...value };
            if (v === undefined) delete next[chosen.jsonName];
            else next[chosen.jsonName] = v;
            onChange(next);
          }}
          path={join(path, chosen.name)}
          ctx={ctx}
        />
      </div>
    </fieldset>
  );
}

/** One field: its label, help text, editor and violations. */
function FieldRow({ field, value, onChange, path, ctx }: EditorProps<JsonValue> & { field: DescField }) {
  const id = useId();
  const help = fieldDoc(ctx.doc, field.parent.typeName, field.jsonName);
  const violations = ctx.violations.get(path) ?? [];
  const described = [help ? `${id}-help` : "", violations.length ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className={`field${violations.length ? " invalid" : ""}`} data-field={path}>
      <label htmlFor={id}>
        {field.name}
        <span className="type">{typeLabel(field)}</span>
      </label>
      {help && (
        <p className="help" id={`${id}-help`}>
          {help}
        </p>
      )}
      <FieldEditor
        field={field}
        id={id}
        described={described}
        value={value}
        onChange={onChange}
        path={path}
        ctx={ctx}
      />
      {violations.length > 0 && (
        <ul className="violations" id={`${id}-error`}>
          {violations.map((v) => (
            <li key={v}>{v}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function typeLabel(field: DescField): string {
  const base = field.message?.name ?? field.enum?.name ?? ScalarType[field.scalar ?? ScalarType.STRING].toLowerCase();
  if (field.fieldKind === "list") return `list of ${base}`;
  if (field.fieldKind === "map") return `map of ${ScalarType[field.mapKey].toLowerCase()} to ${base}`;
  return base;
}

interface ControlProps extends EditorProps<JsonValue> {
  field: DescField;
  id: string;
  described: string;
}

function FieldEditor(props: ControlProps) {
  const { field } = props;
  if (field.fieldKind === "list") return <ListEditor {...props} />;
  if (field.fieldKind === "map") return <MapEditor {...props} />;
  return <SingleEditor {...props} />;
}

/** One value of the field's element type (the field itself, a list item or a map value). */
function SingleEditor({ field, id, described, value, onChange, path, ctx }: ControlProps) {
  const aria = { id, "aria-describedby": described || undefined };
  if (field.enum) {
    const enumDesc = field.enum;
    return (
      <select
        {...aria}
        value={typeof value === "string" ? value : ""}
        onChange={(e) => onChange(e.target.value || undefined)}
      >
        <option value="">(not set)</option>
        {enumDesc.values
          .filter((v) => v.number !== 0)
          .map((v) => (
            <option key={v.name} value={v.name}>
              {enumLabel(enumDesc, v.name)}
            </option>
          ))}
      </select>
    );
  }
  if (field.message) {
    const message = field.message;
    switch (messageEditorKind(message)) {
      case "json":
        return <JsonText {...aria} value={value} onChange={onChange} />;
      case "text":
        return (
          <input
            {...aria}
            type="text"
            value={typeof value === "string" || typeof value === "number" ? String(value) : ""}
            onChange={(e) => onChange(e.target.value || undefined)}
          />
        );
      case "file":
        return <FileReference {...aria} value={value} onChange={onChange} ctx={ctx} />;
      default:
        return <NestedMessage message={message} value={value} onChange={onChange} path={path} ctx={ctx} />;
    }
  }
  return <ScalarInput field={field} aria={aria} value={value} onChange={onChange} />;
}

const longText = /^(text|markdown|html|content|input|expression|template|prompt|system|query|body|document|data)$/;

function ScalarInput({
  field,
  aria,
  value,
  onChange,
}: {
  field: DescField;
  aria: { id: string; "aria-describedby"?: string };
  value: JsonValue | undefined;
  onChange(v: JsonValue | undefined): void;
}) {
  if (isJsonNumber(field.scalar))
    return (
      <input
        {...aria}
        type="number"
        step="any"
        value={typeof value === "number" ? value : ""}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
      />
    );
  switch (field.scalar) {
    case ScalarType.BOOL:
      return (
        <input
          {...aria}
          type="checkbox"
          checked={value === true}
          onChange={(e) => onChange(e.target.checked || undefined)}
        />
      );
    case ScalarType.BYTES:
      return <FileBytes aria={aria} value={value} onChange={onChange} />;
    case ScalarType.STRING:
      if (longText.test(field.name))
        return (
          <textarea
            {...aria}
            rows={3}
            value={typeof value === "string" ? value : ""}
            onChange={(e) => onChange(e.target.value || undefined)}
          />
        );
      return (
        <input
          {...aria}
          type="text"
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(e.target.value || undefined)}
        />
      );
    default:
      // 64-bit integers travel as strings in JSON.
      return (
        <input
          {...aria}
          type="text"
          inputMode="numeric"
          value={typeof value === "string" || typeof value === "number" ? String(value) : ""}
          onChange={(e) => onChange(e.target.value || undefined)}
        />
      );
  }
}

/** A nested message: unset until added, then its fields in a section. */
function NestedMessage({ message, value, onChange, path, ctx }: EditorProps<JsonValue> & { message: DescMessage }) {
  if (!isObject(value))
    return (
      <button type="button" className="add" onClick={() => onChange({})}>
        Set {message.name}
      </button>
    );
  return (
    <fieldset className="nested">
      <legend>
        {message.name}{" "}
        <button type="button" className="remove" onClick={() => onChange(undefined)}>
          Clear
        </button>
      </legend>
      <MessageFields message={message} value={value} onChange={(v) => onChange(v)} path={path} ctx={ctx} />
    </fieldset>
  );
}

function ListEditor({ field, value, onChange, path, ctx }: ControlProps) {
  const items = Array.isArray(value) ? value : [];
  const setItem = (i: number, v: JsonValue | undefined) => {
    const next = [...items];
    next[i] = v ?? null;
    onChange(next);
  };
  const remove = (i: number) => {
    const next = items.filter((_, j) => j !== i);
    onChange(next.length ? next : undefined);
  };
  return (
    <div className="list">
      {items.map((item, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a list being edited: its items are its positions
        <Item key={i} onRemove={() => remove(i)} label={`${field.name} item ${i + 1}`}>
          <ElementEditor
            field={field}
            label={`${field.name} item ${i + 1}`}
            value={item ?? undefined}
            onChange={(v) => setItem(i, v)}
            path={path}
            ctx={ctx}
          />
        </Item>
      ))}
      <button type="button" className="add" onClick={() => onChange([...items, newElement(field)])}>
        Add {field.name}
      </button>
    </div>
  );
}

function MapEditor({ field, value, onChange, path, ctx }: ControlProps) {
  const entries = isObject(value) ? Object.entries(value) : [];
  const write = (next: [string, JsonValue][]) => onChange(next.length ? Object.fromEntries(next) : undefined);
  return (
    <div className="map">
      {entries.map(([key, v], i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a key being typed must keep its row
        <Item key={i} onRemove={() => write(entries.filter((_, j) => j !== i))} label={`${field.name} entry ${key}`}>
          <input
            type="text"
            aria-label={`${field.name} key ${i + 1}`}
            value={key}
            onChange={(e) => write(entries.map((entry, j) => (j === i ? [e.target.value, entry[1]] : entry)))}
          />
          <ElementEditor
            field={field}
            label={`${field.name} value ${i + 1}`}
            value={v}
            onChange={(nv) => write(entries.map((entry, j) => (j === i ? [entry[0], nv ?? ""] : entry)))}
            path={path}
            ctx={ctx}
          />
        </Item>
      ))}
      <button
        type="button"
        className="add"
        onClick={() => write([...entries, [`key${entries.length + 1}`, newElement(field)]])}
      >
        Add {field.name} entry
      </button>
    </div>
  );
}

function Item({ children, onRemove, label }: { children: ReactNode; onRemove(): void; label: string }) {
  return (
    <div className="item">
      {children}
      <button type="button" className="remove" aria-label={`Remove ${label}`} onClick={onRemove}>
        ×
      </button>
    </div>
  );
}

/** A list item or map value: an editor of the field's element type, labelled on its own. */
function ElementEditor({
  field,
  label,
  value,
  onChange,
  path,
  ctx,
}: EditorProps<JsonValue> & { field: DescField; label: string }) {
  const id = useId();
  return (
    <span className="element">
      <label htmlFor={id} className="visually-hidden">
        {label}
      </label>
      <SingleEditor
        field={{ ...field, fieldKind: "scalar" } as DescField}
        id={id}
        described=""
        value={value}
        onChange={onChange}
        path={path}
        ctx={ctx}
      />
    </span>
  );
}

/** JSON text for Struct, Value and Any: kept as typed, sent once it parses. */
function JsonText({
  id,
  value,
  onChange,
  ...rest
}: {
  id: string;
  value: JsonValue | undefined;
  onChange(v: JsonValue | undefined): void;
  "aria-describedby"?: string;
}) {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, 2));
  const [error, setError] = useState<string>();
  return (
    <>
      <textarea
        id={id}
        {...rest}
        className="json"
        rows={4}
        spellCheck={false}
        value={text}
        aria-invalid={error !== undefined}
        onChange={(e) => {
          setText(e.target.value);
          if (!e.target.value.trim()) {
            setError(undefined);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(e.target.value) as JsonValue);
            setError(undefined);
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      />
      {error && <p className="violations">not JSON yet: {error}</p>}
    </>
  );
}

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
function FileBytes({
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
function FileReference({
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
      {preview?.type.startsWith("image/") && <img className="preview" src={preview.url} alt="the chosen file" />}
      {isObject(value) && typeof value.blobId === "string" && !state && <p className="file">blob {value.blobId}</p>}
    </div>
  );
}
