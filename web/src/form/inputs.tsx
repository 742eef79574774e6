/**
 * Single-value inputs of the request form: scalars by type, well-known types as one line of their
 * JSON form, map keys by key type, and JSON text for Struct, Value and Any.
 */
import { type DescField, type DescMessage, type JsonValue, ScalarType } from "@bufbuild/protobuf";
import { useState } from "react";
import { isJsonNumber } from "./model.js";
import { FileBytes } from "./files.js";

/**
 * A well-known type edited as one line of its JSON form: a Timestamp with the browser's date and
 * time picker (local time in, RFC 3339 UTC out), a Duration as seconds with an `s` (`1.5s`).
 */
export function WellKnownText({
  message,
  aria,
  value,
  onChange,
}: {
  message: DescMessage;
  aria: { id: string; "aria-describedby"?: string };
  value: JsonValue | undefined;
  onChange(v: JsonValue | undefined): void;
}) {
  const text = typeof value === "string" || typeof value === "number" ? String(value) : "";
  if (message.typeName === "google.protobuf.Timestamp") {
    const date = text ? new Date(text) : undefined;
    const local =
      date && !Number.isNaN(date.getTime())
        ? new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 19)
        : "";
    return (
      <input
        {...aria}
        type="datetime-local"
        step="1"
        value={local}
        onChange={(e) => onChange(e.target.value ? new Date(e.target.value).toISOString() : undefined)}
      />
    );
  }
  if (message.typeName === "google.protobuf.Duration")
    return (
      <input
        {...aria}
        type="text"
        placeholder="seconds, e.g. 30s or 1.5s"
        pattern="-?\d+(\.\d{1,9})?s"
        value={text}
        onChange={(e) => onChange(e.target.value.trim() || undefined)}
      />
    );
  return <input {...aria} type="text" value={text} onChange={(e) => onChange(e.target.value || undefined)} />;
}

const longText = /^(text|markdown|html|content|input|expression|template|prompt|system|query|body|document|data)$/;

export function ScalarInput({
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

/** A map key of the map's key type: text, a whole number, or true/false (keys are strings in JSON). */
export function MapKey({
  field,
  label,
  value,
  onChange,
}: {
  field: DescField;
  label: string;
  value: string;
  onChange(key: string): void;
}) {
  if (field.fieldKind === "map" && field.mapKey === ScalarType.BOOL)
    return (
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="true">true</option>
        <option value="false">false</option>
      </select>
    );
  if (field.fieldKind === "map" && field.mapKey !== ScalarType.STRING)
    return <input type="number" step="1" aria-label={label} value={value} onChange={(e) => onChange(e.target.value)} />;
  return <input type="text" aria-label={label} value={value} onChange={(e) => onChange(e.target.value)} />;
}

/** JSON text for Struct, Value and Any: kept as typed, sent once it parses. */
export function JsonText({
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
