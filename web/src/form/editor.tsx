/**
 * The request form of any method, generated from its input message's descriptor: enums as selects
 * with their short names, repeated fields as lists, maps as key/value rows, oneofs as tabs, nested
 * messages as sections, bytes and file references as file drops (`files.tsx`), Struct/Value as JSON
 * text and other single values by type (`inputs.tsx`). Field
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
import { type ReactNode, useId, useState } from "react";
import { fieldDoc } from "../services.js";
import type { FormContext } from "./context.js";
import { FileReference } from "./files.js";
import { JsonText, MapKey, ScalarInput, WellKnownText } from "./inputs.js";
import {
  applyUpdate,
  enumLabel,
  isObject,
  messageEditorKind,
  newElement,
  newMapKey,
  type Update,
  withField,
} from "./model.js";

export type { FormContext } from "./context.js";

interface EditorProps<V> {
  value: V | undefined;
  /** Every composite editor passes updates of the latest value up: see Update. */
  onChange(update: Update<V>): void;
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
  const set = (key: string, update: Update<JsonValue>) => onChange((latest) => withField(latest, key, update));
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
    onChange((latest) => {
      const next = { ...latest };
      for (const f of oneof.fields) if (f !== field) delete next[f.jsonName];
      return next;
    });
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
          onChange={(update) => onChange((latest) => withField(latest, chosen.jsonName, update))}
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
        return <WellKnownText message={message} aria={aria} value={value} onChange={onChange} />;
      case "file":
        return <FileReference {...aria} value={value} onChange={onChange} ctx={ctx} />;
      default:
        return <NestedMessage message={message} value={value} onChange={onChange} path={path} ctx={ctx} />;
    }
  }
  return <ScalarInput field={field} aria={aria} value={value} onChange={onChange} />;
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
      <MessageFields
        message={message}
        value={value}
        onChange={(update) => onChange((latest) => applyUpdate(update, isObject(latest) ? latest : {}))}
        path={path}
        ctx={ctx}
      />
    </fieldset>
  );
}

function ListEditor({ field, value, onChange, path, ctx }: ControlProps) {
  const items = Array.isArray(value) ? value : [];
  const listOf = (latest: JsonValue | undefined) => (Array.isArray(latest) ? latest : []);
  const setItem = (i: number, update: Update<JsonValue>) =>
    onChange((latest) => {
      const next = [...listOf(latest)];
      if (i >= next.length) return latest; // removed meanwhile
      next[i] = applyUpdate(update, next[i] ?? undefined) ?? null;
      return next;
    });
  const remove = (i: number) =>
    onChange((latest) => {
      const next = listOf(latest).filter((_, j) => j !== i);
      return next.length ? next : undefined;
    });
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
      <button
        type="button"
        className="add"
        onClick={() => onChange((latest) => [...listOf(latest), newElement(field)])}
      >
        Add {field.name}
      </button>
    </div>
  );
}

function MapEditor({ field, value, onChange, path, ctx }: ControlProps) {
  const entries = isObject(value) ? Object.entries(value) : [];
  // Rows by position, so a key being typed keeps its row.
  const write = (edit: (rows: [string, JsonValue][]) => [string, JsonValue][]) =>
    onChange((latest) => {
      const next = edit(isObject(latest) ? Object.entries(latest) : []);
      return next.length ? Object.fromEntries(next) : undefined;
    });
  return (
    <div className="map">
      {entries.map(([key, v], i) => (
        <Item
          // biome-ignore lint/suspicious/noArrayIndexKey: a key being typed must keep its row
          key={i}
          onRemove={() => write((rows) => rows.filter((_, j) => j !== i))}
          label={`${field.name} entry ${key}`}
        >
          <MapKey
            field={field}
            label={`${field.name} key ${i + 1}`}
            value={key}
            onChange={(k) => write((rows) => rows.map((row, j) => (j === i ? [k, row[1]] : row)))}
          />
          <ElementEditor
            field={field}
            label={`${field.name} value ${i + 1}`}
            value={v}
            onChange={(update) =>
              write((rows) => rows.map((row, j) => (j === i ? [row[0], applyUpdate(update, row[1]) ?? ""] : row)))
            }
            path={path}
            ctx={ctx}
          />
        </Item>
      ))}
      <button
        type="button"
        className="add"
        onClick={() => write((rows) => [...rows, [newMapKey(field, rows.length), newElement(field)]])}
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
