#!/usr/bin/env node
/**
 * `flowforge`: FlowForge from the command line. Any method by name, its input as JSON and/or as
 * flags derived from the contracts (files from paths with `@path`), answers as JSON or a table,
 * files written out with `--out`; jobs submitted and watched with progress; keys and usage;
 * help for every method from its proto comments. Exit codes: 0 done, 1 the call or a job item
 * failed, 2 bad usage or input (nothing sent), 3 the gateway cannot be reached, 4 the key was
 * refused.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  fromJson,
  getOption,
  hasOption,
  type JsonObject,
  type JsonValue,
  type Message,
  toJson,
} from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code } from "@connectrpc/connect";
import { FlowForgeError, unreachable } from "./errors.js";
import { comments, registry as createRegistry, services } from "./gen/flowforge/catalog.js";
import { JobState } from "./gen/flowforge/jobs/v1/jobs_pb.js";
import { http } from "./gen/google/api/annotations_pb.js";
import { enumChoices, enumValueName, fileExtensions, isFileMessage, SpellingError, spellEnums } from "./input.js";
import { methodName, outcomes, type Progress } from "./jobs.js";
import { createNodeFlowForge } from "./node.js";

/** A refusal before anything is sent: exit 2. */
class UsageError extends Error {}

const exit = { ok: 0, failed: 1, usage: 2, unreachable: 3, refused: 4 } as const;
const registry = createRegistry();

// ---------------------------------------------------------------------------------------------
// Arguments: global options, a command, its positionals, and `--name value` flags (repeatable).

interface Args {
  positionals: string[];
  flags: Map<string, string[]>;
}

const booleanFlags = new Set(["help", "wait"]);

function parseArgs(argv: string[]): Args {
  const args: Args = { positionals: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      args.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      if (arg === "-h") args.flags.set("help", ["true"]);
      else args.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (booleanFlags.has(name)) value = "true";
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new UsageError(`--${name} needs a value`);
    args.flags.set(name, [...(args.flags.get(name) ?? []), value]);
  }
  return args;
}

/** Takes a flag's last value out of `args` (so what is left are the method's fields). */
function take(args: Args, name: string): string | undefined {
  const values = args.flags.get(name);
  args.flags.delete(name);
  return values?.at(-1);
}

// ---------------------------------------------------------------------------------------------
// Where the gateway is and who calls it: flags, then FLOWFORGE_URL / FLOWFORGE_API_KEY, then the
// config file (`--config`, FLOWFORGE_CONFIG, or ~/.config/flowforge/config.json: {"url", "key"}).

function settings(args: Args) {
  // An empty variable counts as unset.
  const env = (name: string) => process.env[name] || undefined;
  const configPath =
    take(args, "config") ?? env("FLOWFORGE_CONFIG") ?? join(homedir(), ".config", "flowforge", "config.json");
  let config: { url?: string; key?: string } = {};
  try {
    config = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      throw new UsageError(`cannot read ${configPath}: ${(err as Error).message}`);
  }
  const url = take(args, "url") ?? env("FLOWFORGE_URL") ?? config.url ?? "http://127.0.0.1:8080";
  const key = take(args, "key") ?? env("FLOWFORGE_API_KEY") ?? config.key;
  const protocol = (take(args, "protocol") ?? "connect") as "connect" | "grpc" | "grpc-web";
  if (!["connect", "grpc", "grpc-web"].includes(protocol))
    throw new UsageError(`--protocol: ${protocol} is not one of connect, grpc, grpc-web`);
  return { url, key, protocol };
}

// ---------------------------------------------------------------------------------------------
// Methods by name: `flowforge.crypto.v1.CryptoService/Hash`, `CryptoService/Hash`, `crypto.hash`,
// `data.convert` (or `transform.convert`), `pdf.from-images` (the route) or `pdf.images-to-pdf`.

const loose = (text: string) => text.toLowerCase().replace(/[-_\s]/g, "");
const routeOf = (method: DescMethod) => {
  if (!hasOption(method, http)) return undefined;
  const rule = getOption(method, http);
  return typeof rule.pattern.value === "string" ? rule.pattern.value : undefined;
};
/** Every public service under its names: the one it answers under and its package's. */
const named: [string, DescService][] = Object.entries(services).flatMap(([name, service]) => {
  const pkg = service.typeName.split(".")[1];
  return pkg === name
    ? [[name, service]]
    : [
        [name, service],
        [pkg, service],
      ];
});
/**
 * The last segment of the method's route where it is a plain word that no other method of its
 * service has and that is not the service's own name.
 */
const routeWord = (method: DescMethod) => {
  const word = (m: DescMethod) => routeOf(m)?.split("/").at(-1);
  const mine = word(method);
  if (!mine || /[{}:*]/.test(mine) || named.some(([name, s]) => s === method.parent && loose(name) === loose(mine)))
    return undefined;
  return method.parent.methods.filter((m) => word(m) === mine).length === 1 ? mine : undefined;
};
const kebab = (name: string) => name.replace(/(?<=[a-z0-9])(?=[A-Z])/g, "-").toLowerCase();
/** `crypto.hash`, `pdf.from-images` (its route's word), `llm.stream-chat` (its name, where the route has none). */
const shortName = (method: DescMethod) => {
  const name = named.find(([, s]) => s === method.parent)![0];
  return `${name}.${routeWord(method) ?? kebab(method.name)}`;
};

function findMethod(text: string): DescMethod {
  const [service, method] = text.includes("/") && text.split("/").length === 2 ? text.split("/") : splitShort(text);
  const candidates = named
    .filter(([name, s]) => [name, s.name, s.typeName].some((n) => loose(n) === loose(service)))
    .flatMap(([, s]) => s.methods);
  const found =
    candidates.find((m) => loose(m.name) === loose(method)) ??
    candidates.find((m) => loose(routeWord(m) ?? "") === loose(method));
  if (!found) {
    const near = named.flatMap(([, s]) => s.methods).filter((m) => loose(m.name).includes(loose(method)));
    throw new UsageError(
      `unknown method ${text}${near.length ? ` (did you mean ${[...new Set(near.map(shortName))].join(", ")}?)` : ""}; \`flowforge methods\` lists them`,
    );
  }
  return found;
}

function splitShort(text: string): [string, string] {
  const dot = text.indexOf(".");
  if (dot < 0) throw new UsageError(`unknown method ${text}: name it as crypto.hash or CryptoService/Hash`);
  return [text.slice(0, dot), text.slice(dot + 1)];
}

// ---------------------------------------------------------------------------------------------
// The input: a JSON object (positional, `-` for stdin, or @file.json), then each field flag.

function fieldByName(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => [f.name, f.jsonName].some((n) => loose(n) === loose(name)));
}

function readPath(path: string, field: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new UsageError(
      `${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** An enum value as people type it (`sha256`, `SHA-256`, `HASH_ALGORITHM_SHA256`), or the field named with the choices. */
function enumValue(field: DescField, text: string, path: string): string {
  if (!field.enum) return text;
  return spelled(() => enumValueName(field.enum!, text, path));
}

/** `read()`, its SpellingError as bad usage (nothing is sent). */
function spelled<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof SpellingError) throw new UsageError(err.message);
    throw err;
  }
}

/** A flag's text as the JSON of `field`. */
function flagJson(field: DescField, text: string, path: string): JsonValue {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  if (kind === "message") {
    const message = field.message!;
    if (text.startsWith("@") && isFileMessage(message)) return { data: base64Encode(readPath(text.slice(1), path)) };
    if (/^blob_/.test(text) && isFileMessage(message)) return { blobId: text };
    if (text.startsWith("@")) text = new TextDecoder().decode(readPath(text.slice(1), path));
    try {
      return JSON.parse(text);
    } catch {
      if (message.typeName.startsWith("google.protobuf.")) return text; // Timestamp, Duration, wrappers as text
      throw new UsageError(`${path}: expected JSON for a ${message.name}`);
    }
  }
  if (kind === "enum") return enumValue(field, text, path);
  if (kind === "scalar") {
    const scalar = field.scalar!;
    if (scalar === 12)
      return base64Encode(text.startsWith("@") ? readPath(text.slice(1), path) : new TextEncoder().encode(text));
    if (scalar === 8) {
      if (!["true", "false"].includes(text)) throw new UsageError(`${path}: expected true or false, not ${text}`);
      return text === "true";
    }
    if (scalar === 9) return text.startsWith("@") ? new TextDecoder().decode(readPath(text.slice(1), path)) : text;
    const n = Number(text);
    if (text.trim() === "" || Number.isNaN(n)) throw new UsageError(`${path}: expected a number, not ${text}`);
    return [3, 4, 6, 16, 18].includes(scalar) ? text : n; // 64-bit integers as JSON strings
  }
  return text;
}

/** Sets `--a.b value` in `json`, appending for a repeated field. */
function setFlag(message: DescMessage, json: JsonObject, path: string, text: string) {
  const names = path.split(".");
  let target = json;
  let current = message;
  for (const [i, name] of names.entries()) {
    const field = fieldByName(current, name);
    const at = names.slice(0, i + 1).join(".");
    if (!field)
      throw new UsageError(
        `--${at}: ${current.name} has no field ${name} (\`flowforge help\` on the method lists them)`,
      );
    if (i < names.length - 1) {
      if (field.fieldKind !== "message") throw new UsageError(`--${at}: ${name} is not a message`);
      target[field.jsonName] ??= {};
      target = target[field.jsonName] as JsonObject;
      current = field.message;
      continue;
    }
    const value = flagJson(field, text, at);
    if (field.fieldKind !== "list") target[field.jsonName] = value;
    else {
      target[field.jsonName] ??= [];
      (target[field.jsonName] as JsonValue[]).push(value);
    }
  }
}

function inputOf(method: DescMethod, args: Args, body: string | undefined): Message {
  let json: JsonObject = {};
  if (body !== undefined) {
    const text =
      body === "-"
        ? readFileSync(0, "utf8")
        : body.startsWith("@")
          ? new TextDecoder().decode(readPath(body.slice(1), "input"))
          : body;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`the input is not JSON: ${(err as Error).message}`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json))
      throw new UsageError("the input must be a JSON object");
    spelled(() => spellEnums(method.input, json));
  }
  for (const [name, values] of args.flags) for (const value of values) setFlag(method.input, json, name, value);
  try {
    return fromJson(method.input, json, { registry });
  } catch (err) {
    throw new UsageError(`the input does not fit ${method.input.name}: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

const jsonOf = (message: Message, schema: DescMessage) =>
  toJson(schema, message, { registry, alwaysEmitImplicit: true });

/** Files an answer holds (`data` of file-like messages, and bytes fields), with their JSON paths. */
function filesIn(
  json: JsonValue,
  schema: DescMessage,
  path: (string | number)[] = [],
): { path: (string | number)[]; data: string; type?: string }[] {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return [];
  const found: { path: (string | number)[]; data: string; type?: string }[] = [];
  for (const field of schema.fields) {
    const value = json[field.jsonName];
    if (value === undefined || value === null) continue;
    if (field.fieldKind === "scalar" && field.scalar === 12 && value !== "") {
      const type = typeof json.contentType === "string" ? json.contentType : undefined;
      found.push({ path: [...path, field.jsonName], data: value as string, type });
    } else if (field.fieldKind === "message") found.push(...filesIn(value, field.message, [...path, field.jsonName]));
    else if (field.fieldKind === "list" && field.listKind === "message")
      for (const [i, v] of (value as JsonValue[]).entries())
        found.push(...filesIn(v, field.message, [...path, field.jsonName, i]));
  }
  return found;
}

/** Extensions of the files `--out` writes: the gateway's, and the text formats an answer may carry as bytes. */
const extension: Record<string, string> = { ...fileExtensions, "text/csv": "csv", "application/json": "json" };

/** Writes the answer's files to `out` (a file, or a directory ending in `/` for several); answers the JSON with paths in their place. */
function writeFiles(json: JsonValue, schema: DescMessage, out: string, method: DescMethod): JsonValue {
  const files = filesIn(json, schema);
  if (files.length === 0) throw new UsageError(`--out: the answer of ${method.name} holds no file`);
  if (files.length > 1 && !out.endsWith("/"))
    throw new UsageError(`--out: the answer holds ${files.length} files; give a directory ending in / to write each`);
  files.forEach((file, i) => {
    const target = out.endsWith("/")
      ? join(out, `${loose(method.name)}-${i + 1}.${extension[file.type ?? ""] ?? "bin"}`)
      : out;
    writeFileSync(target, Buffer.from(file.data, "base64"));
    let parent = json as JsonObject;
    for (const key of file.path.slice(0, -1))
      parent = (parent as Record<string | number, JsonValue>)[key] as JsonObject;
    parent[file.path.at(-1) as string] = `written to ${target}`;
  });
  return json;
}

/** A table of the answer's list of records when it has one, else of its fields. */
function table(json: JsonValue): string {
  const object = (json ?? {}) as JsonObject;
  const lists = Object.values(object).filter((v) => Array.isArray(v) && v.length > 0 && typeof v[0] === "object");
  const list = lists.length === 1 ? lists[0] : undefined;
  const rows: JsonObject[] =
    (list as JsonObject[] | undefined) ?? Object.entries(object).map(([field, value]) => ({ field, value }));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: JsonValue | undefined) => (v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((r) => r[i].length))));
  const line = (values: string[]) =>
    values
      .map((v, i) => (v.length > widths[i] ? `${v.slice(0, widths[i] - 1)}…` : v.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function print(json: JsonValue, format: string) {
  if (format === "table") process.stdout.write(`${table(json)}\n`);
  else if (format === "json") process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else throw new UsageError(`--output: ${format} is not json or table`);
}

// ---------------------------------------------------------------------------------------------
// Help, from the proto comments.

function fieldType(field: DescField): string {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind;
  const base =
    kind === "enum"
      ? enumChoices(field.enum!).join("|")
      : kind === "message"
        ? isFileMessage(field.message!)
          ? "@file | blob_id"
          : field.message!.name
        : kind === "scalar"
          ? field.scalar === 12
            ? "@file | text"
            : field.scalar === 8
              ? "bool"
              : field.scalar === 9
                ? "text | @file"
                : "number"
          : "map (JSON)";
  return field.fieldKind === "list" ? `${base}, repeatable` : base;
}

function methodHelp(method: DescMethod): string {
  const lines = [
    `${shortName(method)}  (${methodName(method as DescMethodUnary)}${routeOf(method) ? `, REST ${routeOf(method)}` : ""})`,
    "",
    comments[`${method.parent.typeName}/${method.name}`] ?? "",
    "",
    `Usage: flowforge call ${shortName(method)} ['<json>' | @input.json | -] [--field value ...] [--out file] [--output json|table]`,
    "",
    "Fields (nested ones as --a.b):",
  ];
  for (const field of method.input.fields) {
    const text = (comments[`${method.input.typeName}.${field.name}`] ?? "").split("\n")[0];
    lines.push(`  --${field.name.replace(/_/g, "-")} <${fieldType(field)}>${text ? `\n      ${text}` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

const usage = `Usage: flowforge [--url URL] [--key KEY] [--protocol connect|grpc|grpc-web] <command>

Commands:
  call <method> ['<json>' | @file.json | -] [--field value ...] [--out file] [--output json|table]
                          call any method; \`flowforge help <method>\` lists its fields;
                          a stream's answers (llm.stream-chat) print one JSON line each
  methods [capability]    every method, with what it does
  help [method]           this, or a method's fields from its contract
  submit <method> --items items.json|.ndjson|.csv [--wait] [--idempotency-key k]
                          run many requests as one job; --wait shows progress and the outcomes
  watch <job-id>          follow a job to its end
  job <job-id>            a job and its items
  whoami                  the tenant, key, tier, scopes and quotas the gateway sees
  usage                   your tenant's metered usage
  keys create --tenant T --name N [--tier free|basic|pro|enterprise] [--scopes a,b]
  keys list | keys revoke <id>

The URL and key also come from FLOWFORGE_URL and FLOWFORGE_API_KEY, or the config file
(--config, FLOWFORGE_CONFIG, ~/.config/flowforge/config.json: {"url": ..., "key": ...}).
A method is named as crypto.hash, data.convert, pdf.merge, CryptoService/Hash or in full.
Exit codes: 0 done; 1 the call or a job item failed; 2 bad usage or input, nothing sent;
3 the gateway cannot be reached; 4 the key or token was refused.
`;

// ---------------------------------------------------------------------------------------------
// Jobs: items from a JSON array, NDJSON or CSV (a header naming the fields; values as flags take them).

function itemsFrom(path: string, method: DescMethod): JsonObject[] {
  const text = new TextDecoder().decode(readPath(path, "--items"));
  if (path.endsWith(".csv")) {
    const [header, ...rows] = text.split(/\r?\n/).filter((l) => l.trim() !== "");
    const names = header.split(",").map((n) => n.trim());
    return rows.map((row, i) => {
      const json: JsonObject = {};
      const values = row.split(",");
      names.forEach((name, j) => {
        if (values[j] !== undefined && values[j] !== "") {
          try {
            setFlag(method.input, json, name, values[j]);
          } catch (err) {
            throw new UsageError(`--items row ${i + 1}: ${(err as Error).message}`);
          }
        }
      });
      return json;
    });
  }
  const trimmed = text.trim();
  try {
    const parsed = trimmed.startsWith("[")
      ? JSON.parse(trimmed)
      : trimmed
          .split(/\r?\n/)
          .filter(Boolean)
          .map((l) => JSON.parse(l));
    return parsed as JsonObject[];
  } catch (err) {
    throw new UsageError(`--items: not a JSON array or NDJSON: ${(err as Error).message}`);
  }
}

function progressLine(p: Progress, done: boolean) {
  const finished = p.succeeded + p.failed + p.cancelled;
  const width = 30;
  const filled = p.total ? Math.round((finished / p.total) * width) : 0;
  const text = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${finished}/${p.total}  ${p.succeeded} succeeded, ${p.failed} failed${p.cancelled ? `, ${p.cancelled} cancelled` : ""}  ${JobState[p.state].toLowerCase()}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${text}${done ? "\n" : ""}`);
  else if (done) process.stderr.write(`${text}\n`);
}

// ---------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [command, ...rest] = args.positionals;
  const wantsHelp = take(args, "help") !== undefined;
  if (!command || command === "help") {
    if (rest[0]) process.stdout.write(methodHelp(findMethod(rest[0])));
    else process.stdout.write(usage);
    return exit.ok;
  }
  if (command === "methods") {
    for (const [name, service] of Object.entries(services)) {
      if (rest[0] && loose(rest[0]) !== loose(name)) continue;
      for (const method of service.methods) {
        const text = (comments[`${service.typeName}/${method.name}`] ?? "").replace(/\s+/g, " ").split(/(?<=\.)\s/)[0];
        process.stdout.write(`${shortName(method).padEnd(34)} ${text}\n`);
      }
    }
    return exit.ok;
  }
  const { url, key, protocol } = settings(args);
  const output = take(args, "output") ?? "json";
  const ff = createNodeFlowForge({ baseUrl: url, apiKey: key, protocol });

  /**
   * Calls a method with `input` and prints (or writes) the answer; a stream's answers (StreamChat,
   * WatchJob) one JSON line each as they come.
   */
  const call = async (method: DescMethod, input: Message, out?: string) => {
    if (method.methodKind === "server_streaming") {
      const client = ff.client(method.parent) as unknown as Record<string, (input: Message) => AsyncIterable<Message>>;
      for await (const answer of client[method.localName](input))
        process.stdout.write(`${JSON.stringify(jsonOf(answer, method.output))}\n`);
      return;
    }
    if (method.methodKind !== "unary")
      throw new UsageError(`${shortName(method)} takes a stream of requests; use the SDK (or POST /api/v1/blobs)`);
    const client = ff.client(method.parent) as unknown as Record<string, (input: Message) => Promise<Message>>;
    const answer = await client[method.localName](input);
    let json = jsonOf(answer as Message, method.output);
    if (out) json = writeFiles(json, method.output, out, method);
    print(json, output);
  };

  switch (command) {
    case "call": {
      if (!rest[0]) throw new UsageError("call: name a method (`flowforge methods` lists them)");
      const method = findMethod(rest[0]);
      if (wantsHelp) {
        process.stdout.write(methodHelp(method));
        return exit.ok;
      }
      const out = take(args, "out");
      await call(method, inputOf(method, args, rest[1]), out);
      return exit.ok;
    }
    case "submit": {
      if (!rest[0]) throw new UsageError("submit: name a method");
      const method = findMethod(rest[0]) as DescMethodUnary;
      const path = take(args, "items");
      if (!path) throw new UsageError("submit: --items <file.json|.ndjson|.csv> is required");
      const wait = take(args, "wait") !== undefined;
      const idempotencyKey = take(args, "idempotency-key");
      const items = itemsFrom(path, method).map((json, i) => {
        try {
          return fromJson(method.input, spelled(() => spellEnums(method.input, json, `items[${i}]`)) as JsonObject, {
            registry,
          });
        } catch (err) {
          if (err instanceof UsageError) throw err;
          throw new UsageError(`--items[${i}]: ${(err as Error).message}`);
        }
      });
      const job = await ff.batches.submit(method, items, { idempotencyKey });
      if (!wait) {
        print(toJson(registry.getMessage("flowforge.jobs.v1.Job")!, job as Message, { registry }), output);
        return exit.ok;
      }
      const done = await ff.batches.wait(job.id, { onProgress: (p) => progressLine(p, false) });
      progressLine({ ...done.counts!, state: done.state }, true);
      const results = outcomes(method, done).map((o) =>
        o.ok
          ? { index: o.index, ok: true, result: jsonOf(o.value as Message, method.output) }
          : { index: o.index, ok: false, error: errorJson(o.error) },
      );
      print({ job: done.id, state: JobState[done.state], items: results } as unknown as JsonValue, output);
      return results.every((r) => r.ok) ? exit.ok : exit.failed;
    }
    case "watch": {
      if (!rest[0]) throw new UsageError("watch: give a job id");
      const done = await ff.batches.wait(rest[0], { onProgress: (p) => progressLine(p, false) });
      progressLine({ ...done.counts!, state: done.state }, true);
      return done.state === JobState.SUCCEEDED ? exit.ok : exit.failed;
    }
    case "job": {
      if (!rest[0]) throw new UsageError("job: give a job id");
      const job = await ff.batches.get(rest[0]);
      print(toJson(registry.getMessage("flowforge.jobs.v1.Job")!, job as Message, { registry }), output);
      return exit.ok;
    }
    case "whoami":
      await call(services.account.method.getIdentity, create(services.account.method.getIdentity.input));
      return exit.ok;
    case "usage":
      await call(services.account.method.getUsage, inputOf(services.account.method.getUsage, args, undefined));
      return exit.ok;
    case "keys": {
      const admin = services.admin.method;
      if (rest[0] === "list") await call(admin.listApiKeys, inputOf(admin.listApiKeys, args, undefined));
      else if (rest[0] === "revoke") {
        if (!rest[1]) throw new UsageError("keys revoke: give the key's id");
        await call(admin.revokeApiKey, inputOf(admin.revokeApiKey, args, JSON.stringify({ id: rest[1] })));
      } else if (rest[0] === "create") {
        const scopes = take(args, "scopes");
        if (scopes)
          args.flags.set(
            "scopes",
            scopes.split(",").map((s) => s.trim()),
          );
        await call(admin.createApiKey, inputOf(admin.createApiKey, args, undefined));
      } else throw new UsageError("keys: create, list or revoke");
      return exit.ok;
    }
    default:
      throw new UsageError(`unknown command ${command}; \`flowforge help\` lists them`);
  }
}

function errorJson(error: FlowForgeError) {
  return {
    code: error.codeName,
    message: error.rawMessage,
    ...(error.violations.length ? { fields: error.violations } : {}),
    ...(error.requestId ? { requestId: error.requestId } : {}),
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`flowforge: ${err.message}\n`);
      process.exitCode = exit.usage;
      return;
    }
    const error = FlowForgeError.from(err);
    if (error.code === Code.Unavailable && unreachable(error)) {
      process.stderr.write(`flowforge: cannot reach the gateway: ${error.rawMessage}\n`);
      process.exitCode = exit.unreachable;
      return;
    }
    process.stderr.write(`flowforge: ${error.codeName}: ${error.rawMessage}\n`);
    for (const v of error.violations) process.stderr.write(`  ${v.field}: ${v.description}\n`);
    if (error.requestId) process.stderr.write(`  request id: ${error.requestId}\n`);
    process.exitCode =
      error.code === Code.Unauthenticated || error.code === Code.PermissionDenied ? exit.refused : exit.failed;
  },
);
