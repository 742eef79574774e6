/**
 * Routing a call to a model: the alias and its fallback chain, each deployment skipped when it
 * cannot do what the call needs, when the prompt does not fit its context window, or while it
 * cools down after failing; each tried with a per-token timeout and retried with backoff on
 * 429 / 5xx / dropped connections, honouring Retry-After. The caller's cancellation reaches the
 * provider through the attempt's AbortSignal.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { backoff } from "#runtime/backoff.js";
import { invalidArgument } from "#runtime/errors.js";
import type { ModelAbilities, ModelAlias } from "./config.js";
import { type Provider, ProviderError } from "./providers/provider.js";

/** What a call needs of a model. */
export interface Needs extends Partial<ModelAbilities> {
  /** Tokens of the prompt plus the most the answer may take. */
  tokens?: number;
}

/** Options for createRouter. */
export interface RouterOptions {
  aliases: Map<string, ModelAlias>;
  providers: Map<string, Provider>;
  /** A deployment that failed is skipped this long. */
  cooldownMs: number;
  /** Longest Retry-After waited for; a longer one moves on to the next deployment. */
  maxRetryAfterMs: number;
  /** First retry delay. @default 200 */
  retryBaseMs?: number;
  /** What names the variables to set when nothing is configured. */
  unconfigured: string;
}

/** One attempt at a deployment: its events, ended when the answer is whole. */
export type Attempt<T> = (deployment: ModelAlias, provider: Provider, signal: AbortSignal) => AsyncIterable<T>;

/** Options of one routed call. */
export interface RouteOptions {
  /** The caller's signal. */
  signal: AbortSignal;
  /**
   * Hold each attempt's events until it has finished, so a failure half-way can still be
   * retried or sent to a fallback (Chat); otherwise events pass as they come, and once one has
   * passed the call is committed to its deployment (StreamChat).
   */
  buffered: boolean;
}

/** An event and the deployment that produced it. */
export interface Routed<T> {
  deployment: ModelAlias;
  event: T;
}

const abilityNames: Record<keyof ModelAbilities, string> = {
  chat: "chat",
  tools: "call tools",
  jsonSchema: "answer JSON constrained by a schema",
  vision: "take images",
  embeddings: "make embeddings",
};

/** Creates the router. */
export function createRouter(options: RouterOptions) {
  const coolUntil = new Map<string, number>();
  const keyOf = (d: ModelAlias) => `${d.provider}/${d.model}/${d.embeddingModel ?? ""}`;

  /** The alias, then its fallbacks (and theirs), each once. */
  function chainOf(alias: string): ModelAlias[] {
    const seen = new Set<string>();
    const out: ModelAlias[] = [];
    const visit = (name: string) => {
      const a = options.aliases.get(name);
      if (!a || seen.has(name)) return;
      seen.add(name);
      out.push(a);
      for (const f of a.fallbacks) visit(f);
    };
    visit(alias);
    return out;
  }

  /** The alias's deployments that can serve the call, in order; throws the precise reason when none can. */
  function candidates(alias: string, needs: Needs): ModelAlias[] {
    if (options.aliases.size === 0)
      throw new ConnectError(`no model provider is configured: ${options.unconfigured}`, Code.FailedPrecondition);
    const name = alias || "default";
    if (!options.aliases.has(name))
      throw invalidArgument("model", `unknown model alias "${name}"; known: ${[...options.aliases.keys()].join(", ")}`);
    const chain = chainOf(name);
    const able = chain.filter((d) =>
      (Object.keys(abilityNames) as (keyof ModelAbilities)[]).every((k) => !needs[k] || d[k]),
    );
    if (able.length === 0) {
      const missing = (Object.keys(abilityNames) as (keyof ModelAbilities)[]).filter(
        (k) => needs[k] && !chain.some((d) => d[k]),
      );
      throw new ConnectError(
        `model "${name}" cannot ${missing.map((k) => abilityNames[k]).join(" and ") || "do what this call needs"}, nor can its fallbacks`,
        Code.FailedPrecondition,
      );
    }
    const fitting = able.filter((d) => needs.tokens === undefined || needs.tokens <= d.contextWindow);
    if (fitting.length === 0) {
      const largest = Math.max(...able.map((d) => d.contextWindow));
      throw invalidArgument(
        "messages",
        `the prompt and max_tokens take about ${needs.tokens} tokens, beyond the context window of "${name}" and its fallbacks (at most ${largest})`,
      );
    }
    return fitting;
  }

  /** Runs `attempt` on the alias's deployments until one answers; yields its events. */
  async function* route<T>(
    alias: string,
    needs: Needs,
    attempt: Attempt<T>,
    o: RouteOptions,
  ): AsyncGenerator<Routed<T>> {
    const list = candidates(alias, needs);
    const now = Date.now();
    const warm = list.filter((d) => (coolUntil.get(keyOf(d)) ?? 0) <= now);
    if (warm.length === 0) {
      const wait = Math.min(...list.map((d) => coolUntil.get(keyOf(d))!)) - now;
      throw withRetryDelay(
        new ConnectError(
          `every deployment of model "${alias || "default"}" failed recently and is cooling down; retry in ${Math.ceil(wait / 1000)} s`,
          Code.Unavailable,
        ),
        wait,
      );
    }
    const failures: ProviderError[] = [];
    for (const deployment of warm) {
      const provider = options.providers.get(deployment.provider)!;
      for (let tried = 0; ; tried++) {
        let committed = false;
        try {
          if (o.buffered) {
            const held: T[] = [];
            for await (const event of timed(attempt, deployment, provider, o.signal)) held.push(event);
            for (const event of held) yield { deployment, event };
          } else {
            for await (const event of timed(attempt, deployment, provider, o.signal)) {
              committed = true;
              yield { deployment, event };
            }
          }
          coolUntil.delete(keyOf(deployment));
          return;
        } catch (err) {
          if (o.signal.aborted)
            throw new ConnectError("the caller went away", Code.Canceled, undefined, undefined, err);
          if (!(err instanceof ProviderError)) throw err;
          if (!err.retryable) throw toConnectError(err);
          if (committed)
            throw new ConnectError(
              `${err.message}, after part of the answer was sent`,
              Code.Unavailable,
              undefined,
              undefined,
              err,
            );
          const wait = err.details.retryAfterMs;
          if (tried < deployment.retries && (wait ?? 0) <= options.maxRetryAfterMs) {
            await sleep(wait ?? backoff(tried + 1, options.retryBaseMs ?? 200, 8000), o.signal);
            continue;
          }
          failures.push(err);
          coolUntil.set(keyOf(deployment), Date.now() + options.cooldownMs);
          break;
        }
      }
    }
    const last = failures.at(-1)!;
    const error = toConnectError(last);
    throw withRetryDelay(
      new ConnectError(
        failures.length === 1
          ? error.rawMessage
          : `every deployment of model "${alias || "default"}" failed: ${failures.map((f) => f.message).join("; ")}`,
        error.code,
        undefined,
        undefined,
        last,
      ),
      last.details.retryAfterMs,
    );
  }

  /** One attempt, aborted when the caller goes away or no event comes within the deployment's timeout. */
  async function* timed<T>(attempt: Attempt<T>, d: ModelAlias, provider: Provider, signal: AbortSignal) {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    // One timer per attempt, pushed back as each event arrives.
    const timer = setTimeout(
      () =>
        controller.abort(
          new ProviderError(d.provider, "timeout", `${d.provider} (${d.model}) sent nothing for ${d.timeoutMs} ms`),
        ),
      d.timeoutMs,
    );
    const arm = () => timer.refresh();
    const iterator = attempt(d, provider, controller.signal)[Symbol.asyncIterator]();
    try {
      // The timeout also ends a provider that ignores its signal.
      const stopped = aborted(controller.signal);
      stopped.catch(() => {});
      while (true) {
        const next = await Promise.race([iterator.next(), stopped]);
        if (next.done) return;
        arm();
        yield next.value;
      }
    } catch (err) {
      if (controller.signal.aborted && controller.signal.reason instanceof ProviderError)
        throw controller.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (!controller.signal.aborted) controller.abort();
      void iterator.return?.().catch(() => {});
    }
  }

  return { route, candidates, chainOf };
}

/** The router. */
export type Router = ReturnType<typeof createRouter>;

/** A promise that rejects when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ConnectError("the caller went away", Code.Canceled));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function withRetryDelay(err: ConnectError, ms: number | undefined): ConnectError {
  if (ms === undefined || ms <= 0) return err;
  const seconds = Math.ceil(ms / 1000);
  err.details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(seconds), nanos: 0 } } });
  return err;
}

/** A provider's failure as the caller sees it. */
export function toConnectError(err: ProviderError): ConnectError {
  const status = err.details.status;
  const code =
    err.failure === "rate-limited"
      ? Code.ResourceExhausted
      : err.failure === "timeout"
        ? Code.DeadlineExceeded
        : err.failure === "unsupported"
          ? Code.FailedPrecondition
          : err.failure === "refused"
            ? status === 401 || status === 403 || status === 404
              ? Code.FailedPrecondition
              : Code.InvalidArgument
            : Code.Unavailable;
  return new ConnectError(err.message, code, undefined, undefined, err);
}
