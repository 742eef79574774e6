/**
 * Completion webhooks per the Standard Webhooks spec: `webhook-id`, `webhook-timestamp` and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's
 * bytes; retried with exponential backoff and jitter; private, loopback and link-local
 * targets refused (at submit and again at delivery, against DNS rebinding) unless allowed.
 */
import { createHmac } from "node:crypto";
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { create, toJsonString, type Registry } from "@bufbuild/protobuf";
import { JobSchema } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import type { Logger } from "../runtime/logger.js";
import type { JobRow } from "./rows.js";
import type { JobStore } from "./store.js";
import { jobMessage } from "./messages.js";

const blocked = new BlockList();
for (const [net, prefix, type] of [
  ["0.0.0.0", 8, "ipv4"], ["10.0.0.0", 8, "ipv4"], ["100.64.0.0", 10, "ipv4"], ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"], ["172.16.0.0", 12, "ipv4"], ["192.168.0.0", 16, "ipv4"], ["224.0.0.0", 4, "ipv4"],
  ["::", 128, "ipv6"], ["::1", 128, "ipv6"], ["fc00::", 7, "ipv6"], ["fe80::", 10, "ipv6"], ["ff00::", 8, "ipv6"],
] as const) blocked.addSubnet(net, prefix, type);

/** True for addresses a webhook may not target. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1], "ipv4");
  return blocked.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** Why a webhook URL is refused, or undefined when it is acceptable. */
export async function webhookUrlProblem(url: string, allowPrivate: boolean): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return "must be http or https";
  if (parsed.username || parsed.password) return "must not carry credentials";
  if (allowPrivate) return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return `cannot resolve ${host}`;
  }
  if (addresses.some(isPrivateAddress)) return "points to a private, loopback or link-local address";
  return undefined;
}

/** Checks a `whsec_<base64>` secret and returns its key bytes. */
export function secretKey(secret: string): Buffer | undefined {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m) return undefined;
  const key = Buffer.from(m[1], "base64");
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

/** The Standard Webhooks signature header value. */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = secretKey(secret) ?? Buffer.alloc(0);
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/** Options for startWebhookDispatcher. */
export interface WebhookOptions {
  store: JobStore;
  logger: Logger;
  registry: Registry;
  allowPrivate: boolean;
  /** Attempts before giving up. Default 8. */
  maxAttempts?: number;
  /** Backoff base. Default 1 s. */
  baseDelayMs?: number;
  /** How often due webhooks are looked for. Default 500 ms. */
  pollMs?: number;
}

async function deliver(job: JobRow, o: WebhookOptions): Promise<{ ok: boolean; error?: string }> {
  const problem = await webhookUrlProblem(job.webhook_url!, o.allowPrivate);
  if (problem) return { ok: false, error: `refused: ${problem}` };
  const body = JSON.stringify({
    type: "job.finished",
    timestamp: new Date().toISOString(),
    data: JSON.parse(toJsonString(JobSchema, create(JobSchema, jobMessage(job)), { registry: o.registry })),
  });
  const id = `msg_${job.id}`;
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const res = await fetch(job.webhook_url!, {
      method: "POST",
      redirect: "manual",
      signal: AbortSignal.timeout(10_000),
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": sign(job.webhook_secret ?? "", id, timestamp, body),
        "user-agent": "FlowForge-Webhooks/1",
      },
      body,
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, error: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
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
        const { ok, error } = await deliver(job, o);
        const attempt = job.webhook_attempts + 1;
        const refused = error?.startsWith("refused");
        const nextAt = ok || refused || attempt >= maxAttempts ? null : new Date(Date.now() + Math.min(3_600_000, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
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
