/**
 * The playground: every method of every service the gateway serves, its request as a form built
 * from the descriptors, sent through connect-web; unary answers shown whole, server streams live,
 * and any unary method of a capability sent as a job instead (watched live).
 */
import {
  create,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  fromJson,
  type DescMethod,
  type DescService,
  type JsonObject,
  type Message,
} from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { useTransport } from "@connectrpc/connect-query";
import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { BadRequestSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { JobService } from "../../../gen/flowforge/jobs/v1/jobs_pb.js";
import { MessageFields, type FormContext } from "../form/editor.js";
import { batchItems } from "../form/batch.js";
import { applyUpdate, normalizeExample, violationKey } from "../form/model.js";
import { fetchApiDocument, methodDoc, registry, services } from "../services.js";
import { AnswerView, ErrorView } from "./answer.js";
import { snippets } from "./snippets.js";

/** Files up to this size are sent inline (base64 in the JSON); larger ones through the blob store. */
const inlineLimit = 4 * 1024 * 1024;

type Outcome =
  | { kind: "answer"; method: DescMethod; message: Message; requestId?: string }
  | { kind: "stream"; method: DescMethod; messages: Message[]; done: boolean }
  | { kind: "error"; error: ConnectError; violations: { field: string; description: string }[] }
  | { kind: "invalid"; message: string };

/** The method named in the location's hash (`#/playground/flowforge.crypto.v1.CryptoService/Hash`). */
function methodFromHash(): DescMethod | undefined {
  const match = /^#\/playground\/([^/]+)\/([^/]+)$/.exec(window.location.hash);
  const service = match && services.find((s) => s.typeName === match[1]);
  return service?.methods.find((m) => m.name === match?.[2]);
}

export function Playground({ apiKey }: { apiKey: string }) {
  const [method, setMethod] = useState<DescMethod>(() => methodFromHash() ?? services[0].methods[0]);
  useEffect(() => {
    const onHash = () => {
      const m = methodFromHash();
      if (m) setMethod(m);
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return (
    <div className="playground">
      <nav className="methods" aria-label="Services and methods">
        {services.map((service) => (
          <ServiceMethods key={service.typeName} service={service} current={method} />
        ))}
      </nav>
      <MethodForm key={`${method.parent.typeName}/${method.name}`} method={method} apiKey={apiKey} />
    </div>
  );
}

function ServiceMethods({ service, current }: { service: DescService; current: DescMethod }) {
  return (
    <details open={service === current.parent}>
      <summary>{service.name}</summary>
      <ul>
        {service.methods.map((m) => (
          <li key={m.name}>
            <a href={`#/playground/${service.typeName}/${m.name}`} aria-current={m === current ? "page" : undefined}>
              {m.name}
              {m.methodKind === "server_streaming" && <span className="badge">stream</span>}
            </a>
          </li>
        ))}
      </ul>
    </details>
  );
}

function MethodForm({ method, apiKey }: { method: DescMethod; apiKey: string }) {
  const transport = useTransport();
  const doc = useQuery({ queryKey: ["openapi"], queryFn: fetchApiDocument, staleTime: Infinity });
  const info = methodDoc(doc.data, method);
  const [value, setValue] = useState<JsonObject>({});
  const prefilled = useRef(false);
  useEffect(() => {
    if (prefilled.current || !doc.data) return;
    prefilled.current = true;
    // The example fills an untouched form only: what was typed before it came stays.
    const example = info.example;
    if (example !== undefined)
      setValue((v) => (Object.keys(v).length > 0 ? v : normalizeExample(method.input, example)));
  }, [doc.data, info.example, method]);
  const [outcome, setOutcome] = useState<Outcome>();
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController>(undefined);
  useEffect(() => () => abort.current?.abort(), []);

  const violations = useMemo(() => {
    const byField = new Map<string, string[]>();
    if (outcome?.kind === "error")
      for (const v of outcome.violations)
        byField.set(violationKey(v.field), [...(byField.get(violationKey(v.field)) ?? []), v.description]);
    return byField;
  }, [outcome]);
  const ctx: FormContext = {
    doc: doc.data,
    violations,
    inlineLimit,
    async upload(file) {
      const res = await fetch("/api/v1/blobs", {
        method: "PUT",
        headers: {
          authorization: `Bearer ${apiKey}`,
          "content-type": file.type || "application/octet-stream",
          "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`,
        },
        body: file,
      });
      const body = (await res.json().catch(() => ({}))) as { blob?: { blobId: string }; error?: { message: string } };
      if (!res.ok || !body.blob) throw new Error(body.error?.message ?? `the blob store answered ${res.status}`);
      return body.blob.blobId;
    },
  };

  const request = (): Message | undefined => {
    try {
      return fromJson(method.input, value, { registry });
    } catch (err) {
      setOutcome({ kind: "invalid", message: (err as Error).message });
      return undefined;
    }
  };
  const failed = (err: unknown) => {
    const error = ConnectError.from(err);
    const violations = error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
    setOutcome({
      kind: "error",
      error,
      violations: violations.map((v) => ({ field: v.field, description: v.description })),
    });
  };

  const send = async () => {
    const input = request();
    if (!input) return;
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setBusy(true);
    try {
      if (method.methodKind === "unary") {
        const res = await transport.unary(
          method as DescMethodUnary,
          controller.signal,
          undefined,
          undefined,
          input as never,
        );
        setOutcome({
          kind: "answer",
          method,
          message: res.message as Message,
          requestId: res.header.get("x-request-id") ?? undefined,
        });
      } else if (method.methodKind === "server_streaming") {
        const res = await transport.stream(
          method as DescMethodServerStreaming,
          controller.signal,
          undefined,
          undefined,
          createAsyncIterable([input as never]),
        );
        const messages: Message[] = [];
        setOutcome({ kind: "stream", method, messages: [], done: false });
        for await (const m of res.message) {
          messages.push(m as Message);
          setOutcome({ kind: "stream", method, messages: [...messages], done: false });
        }
        setOutcome({ kind: "stream", method, messages, done: true });
      } else {
        setOutcome({ kind: "invalid", message: "client and bidirectional streams are not callable from the console" });
      }
    } catch (err) {
      if (!controller.signal.aborted) failed(err);
    } finally {
      setBusy(false);
    }
  };

  // A unary method of a capability whose methods run as jobs: this request as a job, or a batch
  // read from a file (one item per row); either way the job's page follows it live.
  const submitJob = async (items: Message[]) => {
    setBusy(true);
    try {
      const submit = JobService.method.submitJob;
      const res = await transport.unary(
        submit,
        undefined,
        undefined,
        undefined,
        create(submit.input, {
          method: `${method.parent.typeName}/${method.name}`,
          ...(items.length === 1
            ? { request: anyPack(method.input, items[0]) }
            : { items: items.map((i) => anyPack(method.input, i)) }),
        }),
      );
      window.location.hash = `#/jobs/${res.message.job?.id ?? ""}`;
    } catch (err) {
      failed(err);
    } finally {
      setBusy(false);
    }
  };
  const sendAsJob = async () => {
    const input = request();
    if (input) await submitJob([input]);
  };
  const sendBatch = async (file: File) => {
    try {
      await submitJob(batchItems(method.input, file.name, await file.text()));
    } catch (err) {
      if (err instanceof ConnectError) failed(err);
      else setOutcome({ kind: "invalid", message: `${file.name}: ${(err as Error).message}` });
    }
  };

  const origin = window.location.origin;
  return (
    <section className="method" aria-labelledby="method-title">
      <h2 id="method-title">
        {method.parent.name}.{method.name}
      </h2>
      {info.description && <p className="description">{info.description}</p>}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <MessageFields
          message={method.input}
          value={value}
          onChange={(update) => setValue((latest) => applyUpdate(update, latest) ?? {})}
          path=""
          ctx={ctx}
        />
        <div className="actions">
          <button type="submit" disabled={busy}>
            {method.methodKind === "server_streaming" ? "Start stream" : "Send"}
          </button>
          {method.methodKind === "unary" && info.jobs && (
            <>
              <button type="button" disabled={busy} onClick={() => void sendAsJob()}>
                Send as a job
              </button>
              <label className="batch">
                Send a batch from a CSV or JSON file
                <input
                  type="file"
                  accept=".csv,.json,.ndjson,text/csv,application/json"
                  disabled={busy}
                  onChange={(e) => {
                    const file = e.target.files?.[0];
                    e.target.value = "";
                    if (file) void sendBatch(file);
                  }}
                />
              </label>
            </>
          )}
          {busy && (
            <button type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          )}
        </div>
      </form>
      {outcome?.kind === "invalid" && (
        <p className="answer error" role="alert">
          {outcome.message}
        </p>
      )}
      {outcome?.kind === "error" && <ErrorView error={outcome.error} violations={outcome.violations} />}
      {outcome?.kind === "answer" && (
        <AnswerView schema={outcome.method.output} message={outcome.message} requestId={outcome.requestId} />
      )}
      {outcome?.kind === "stream" && (
        <section className="answer" aria-label="Stream">
          <h3>
            Stream {outcome.done ? "ended" : "open"} · {outcome.messages.length} messages
          </h3>
          <ol className="stream">
            {outcome.messages.map((m, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a stream only grows: a message's place is its identity
              <li key={i}>
                <AnswerView schema={outcome.method.output} message={m} />
              </li>
            ))}
          </ol>
        </section>
      )}
      <details className="snippets">
        <summary>The same call elsewhere</summary>
        {snippets(method, value, info.restPath, origin).map((s) => (
          <div key={s.label}>
            <h4>{s.label}</h4>
            <pre>{s.code}</pre>
          </div>
        ))}
      </details>
    </section>
  );
}
