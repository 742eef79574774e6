/**
 * Completion webhooks per the Standard Webhooks spec: `webhook-id`, `webhook-timestamp` and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's
 * bytes; retried with exponential backoff and jitter; private and special-purpose targets
 * refused at submit and again at delivery, where the request goes to the address checked
 * (webhook-target.ts), unless private targets are allowed.
 */
import { Webhook } from "standardwebhooks";
import { create, toJsonString, type Registry } from "@bufbuild/protobuf";
import { JobSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Logger } from "#runtime/logger.js";
import type { JobRow } from "./rows.js";
import type { JobStore } from "./store.js";
import { jobMessage } from "./messages.js";
import { backoff } from "#runtime/backoff.js";
import { type PrivateTargets, postToTarget, resolveWebhookTarget, type Resolver } from "./webhook-target.js";
import { injectTraceContext, inSpan, SpanKind } from "#runtime/telemetry.js";

/** Why a webhook URL is refused (see webhook-target.ts), or undefined when it is acceptable. */
export async function webhookUrlProblem(
  url: string,
  allowPrivate: PrivateTargets,
  resolve?: Resolver,
): Promise<string | undefined> {
  const target = await resolveWebhookTarget(url, allowPrivate, resolve);
  return "problem" in target ? target.problem : undefined;
}

/** Checks a `whsec_<base64>` secret and returns its key bytes. */
export function secretKey(secret: string): Buffer | undefined {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m) return undefined;
  const key = Buffer.from(m[1], "base64");
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

/** The Standard Webhooks signature header value (`standardwebhooks`, the spec's reference library). */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = secretKey(secret) ?? Buffer.alloc(0);
  return new Webhook(key, { format: "raw" }).sign(id, new Date(timestamp * 1000), body);
}

/** Options for startWebhookDispatcher. */
export interface WebhookOptions {
  store: JobStore;
  logger: Logger;
  registry: Registry;
  /** Private targets allowed: none, all, or those in the operator's CIDR blocks. */
  allowPrivate: PrivateTargets;
  /** Attempts before giving up. Default 8. */
  maxAttempts?: number;
  /** Backoff base. Default 1 s. */
  baseDelayMs?: number;
  /** How often due webhooks are looked for. Default 500 ms. */
  pollMs?: number;
  /** Host name resolution (node:dns by default). */
  resolve?: Resolver;
}

/** One delivery attempt: delivered, failed (retried later), or refused for good (its target is not allowed). */
async function deliver(job: JobRow, o: WebhookOptions): Promise<{ ok: boolean; refused?: boolean; error?: string }> {
  const target = await resolveWebhookTarget(job.webhook_url!, o.allowPrivate, o.resolve);
  if ("problem" in target) return { ok: false, refused: true, error: `refused: ${target.problem}` };
  const body = JSON.stringify({
    type: "job.finished",
    timestamp: new Date().toISOString(),
    data: JSON.parse(toJsonString(JobSchema, create(JobSchema, jobMessage(job)), { registry: o.registry })),
  });
  const id = `msg_${job.id}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": sign(job.webhook_secret ?? "", id, timestamp, body),
    "user-agent": "FlowForge-Webhooks/1",
  };
  // The receiver continues the job's trace: the submit's context, or with traces on a span of this delivery.
  if (job.traceparent) headers.traceparent = job.traceparent;
  const attributes = { "flowforge.job_id": job.id, "flowforge.tenant": job.tenant_id };
  return inSpan("webhook", { kind: SpanKind.CLIENT, traceparent: job.traceparent, attributes }, async () => {
    injectTraceContext(headers);
    try {
      // Redirects are not followed: a 3xx is a failed delivery.
      const res = await postToTarget(target, headers, body, 10_000);
      return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  });
}

/** Polls for due webhooks and delivers them; returns a stop function. */
export function startWebhookDispatcher(o: WebhookOptions): { stop(): Promise<void>; poke(): void } {
  const maxAttempts = o.maxAttempts ?? 8;
  const base = o.baseDelayMs ?? 1000;
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      for (const job of await o.store.dueWebhooks(50)) {
        const { ok, refused, error } = await deliver(job, o);
        const attempt = job.webhook_attempts + 1;
        const nextAt =
          ok || refused || attempt >= maxAttempts ? null : new Date(Date.now() + backoff(attempt, base, 3_600_000));
        await o.store.webhookAttempt(job.id, { delivered: ok, nextAt, error });
        o.logger.info({ job: job.id, attempt, delivered: ok, error }, "webhook");
      }
    } catch (err) {
      o.logger.warn({ err }, "webhook dispatch failed");
    }
  };
  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(loop, o.pollMs ?? 500);
    });
  };
  loop();
  return {
    poke() {
      if (!running && !stopped) {
        clearTimeout(timer);
        loop();
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
