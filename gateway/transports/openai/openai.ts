/**
 * The OpenAI-compatible front: `POST /v1/chat/completions` (streamed too), `POST /v1/embeddings`
 * and `GET /v1/models[/{id}]`, so the OpenAI SDKs, n8n's OpenAI and AI Agent nodes and LangChain
 * work by pointing their base URL at the gateway. One more transport: each request becomes a
 * call of LlmService (Chat, StreamChat, Embed, ListModels) that passes the gateway's one chain of
 * policies (request id, metrics, access log, FlowForge keys, usage, tiers) and is answered by
 * the same forwarded implementation as every other protocol.
 */
import type * as http from "node:http";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  type ChatResponse,
  type EmbedResponse,
  type ListModelsResponse,
  LlmService,
  type StreamChatResponse,
} from "#gen/flowforge/llm/v1/llm_pb.js";
import { invalidArgument, toPublicError, withRequestId } from "#runtime/errors.js";
import type { Logger } from "#runtime/logger.js";
import type { ServiceRegistration } from "#runtime/registration.js";
import type { PolicyChain } from "../../policies/policy.js";
import { HandlerCall } from "../handler-call.js";
import {
  chatRequestOf,
  chunker,
  completionOf,
  embedRequestOf,
  embeddingsOf,
  errorOf,
  modelOf,
  modelsOf,
} from "./wire.js";
import {
  type Req,
  type Res,
  callerGone,
  discardRest,
  headersOf,
  jsonContentType,
  readBody,
  send,
} from "../node-http.js";

type Impl = (request: unknown, context: HandlerContext) => unknown;

/** Options for createOpenAiFront. */
export interface OpenAiFrontOptions {
  /** Every service the gateway serves; the front answers when LlmService is among them. */
  services: ServiceRegistration[];
  policies: PolicyChain;
  maxRequestBytes: number;
  /** Deadline of a unary call (a stream has none but its caller's). */
  defaultTimeoutMs: number;
  logger: Logger;
}

/** The prefix the front claims. */
export const openAiPrefix = "/v1/";

/** One call to the front. */
interface OpenAiCall {
  req: Req;
  res: Res;
  path: string;
  requestId: string;
}

/** Creates the front; its handler claims `/v1/` when LlmService is served. */
export function createOpenAiFront(options: OpenAiFrontOptions) {
  const registration = options.services.find((s) => s.service.typeName === LlmService.typeName);
  const impl = registration?.impl as Record<string, Impl> | undefined;
  const call = (name: string): Impl => impl![name].bind(impl);

  /** Answers a failed call in OpenAI's error envelope (an error event on a stream already begun). */
  function fail(thrown: unknown, { req, res, requestId, streaming }: OpenAiCall & { streaming?: boolean }) {
    const err = withRequestId(toPublicError(thrown), requestId);
    if (err.code === Code.Internal || err.code === Code.Unknown)
      options.logger.warn({ err: thrown, requestId }, "OpenAI-compatible call failed");
    discardRest(req);
    const { status, body } = errorOf(err, requestId);
    if (res.headersSent) {
      // A stream that failed after it began: OpenAI's clients read an error event.
      if (streaming && !res.writableEnded) {
        (res as http.ServerResponse).write(`data: ${JSON.stringify(body)}\n\n`);
        res.end();
      } else res.destroy();
      return;
    }
    send(res, {
      status,
      headers: { "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify(body),
    });
  }

  async function serve({ req, res, path, requestId }: OpenAiCall) {
    const gone = callerGone(res);
    let streaming = false;
    try {
      let received = 0;
      const readJson = async () => {
        const contentType = String(req.headers["content-type"] ?? "");
        if (!jsonContentType.test(contentType))
          throw invalidArgument("body", `must be JSON with Content-Type: application/json (got "${contentType}")`);
        const raw = await readBody(req, options.maxRequestBytes, 0);
        received = raw.length;
        try {
          return JSON.parse(Buffer.from(raw).toString("utf8")) as unknown;
        } catch (cause) {
          throw invalidArgument("body", `is not valid JSON: ${(cause as Error).message}`, cause);
        }
      };
      const header = headersOf(req);
      const created = Math.floor(Date.now() / 1000);
      const id = `chatcmpl-${requestId}`;
      const json = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        send(res, { status, headers: { "content-type": "application/json", "x-request-id": requestId }, body: text });
        return Buffer.byteLength(text);
      };
      const base = {
        service: LlmService,
        protocol: "openai" as const,
        header,
        signal: gone.signal,
        bytesIn: () => received,
      };

      if (path === "/v1/chat/completions" && req.method === "POST") {
        // The body says whether to stream: read it once, before choosing the method.
        let parsed: ReturnType<typeof chatRequestOf> | undefined;
        const parse = async () => {
          parsed ??= chatRequestOf(await readJson());
          return parsed;
        };
        const body = await parse().catch((err) => err as Error);
        if (body instanceof Error) throw body;
        streaming = body.stream;
        const method = body.stream ? LlmService.method.streamChat : LlmService.method.chat;
        await options.policies(
          new HandlerCall({
            ...base,
            method,
            input: async () => (await parse()).request,
            timeoutMs: body.stream ? undefined : options.defaultTimeoutMs,
            run: async (input, context) => {
              if (!body.stream) {
                const answer = (await call("chat")(input, context)) as ChatResponse;
                return json(200, completionOf(answer, id, created));
              }
              return streamChat(call("streamChat")(input, context) as AsyncIterable<StreamChatResponse>, {
                res,
                id,
                created,
                model: (input as { model: string }).model || "default",
                includeUsage: body.includeUsage,
                requestId,
              });
            },
          }),
        );
        return;
      }
      if (path === "/v1/embeddings" && req.method === "POST") {
        let parsed: ReturnType<typeof embedRequestOf> | undefined;
        const parse = async () => {
          parsed ??= embedRequestOf(await readJson());
          return parsed;
        };
        await options.policies(
          new HandlerCall({
            ...base,
            method: LlmService.method.embed,
            input: async () => (await parse()).request,
            timeoutMs: options.defaultTimeoutMs,
            run: async (input, context) => {
              const answer = (await call("embed")(input, context)) as EmbedResponse;
              return json(200, embeddingsOf(answer, parsed!.base64));
            },
          }),
        );
        return;
      }
      const model = /^\/v1\/models(?:\/(.+))?$/.exec(path);
      if (model && req.method === "GET") {
        const wanted = model[1] === undefined ? undefined : decodeURIComponent(model[1]);
        await options.policies(
          new HandlerCall({
            ...base,
            method: LlmService.method.listModels,
            input: async () => ({}),
            timeoutMs: options.defaultTimeoutMs,
            run: async (input, context) => {
              const answer = (await call("listModels")(input, context)) as ListModelsResponse;
              if (wanted === undefined) return json(200, modelsOf(answer));
              const found = answer.models.find((m) => m.alias === wanted);
              if (!found) throw new ConnectError(`no model "${wanted}"`, Code.NotFound);
              return json(200, modelOf(found));
            },
          }),
        );
        return;
      }
      throw new ConnectError(`no route ${req.method} ${path}`, Code.NotFound);
    } catch (thrown) {
      fail(thrown, { req, res, path, requestId, streaming });
    } finally {
      gone.release();
    }
  }

  function handle(req: Req, res: Res, path: string): boolean {
    if (!impl || !path.startsWith(openAiPrefix)) return false;
    const requestId = req.headers["x-request-id"] as string;
    void serve({ req, res, path, requestId });
    return true;
  }

  return { handle };
}

/** A streamed chat as chat.completion.chunk events; resolves to the bytes sent. */
async function streamChat(
  events: AsyncIterable<StreamChatResponse>,
  o: { res: Res; id: string; created: number; model: string; includeUsage: boolean; requestId: string },
): Promise<number> {
  const chunks = chunker(o.id, o.created, o.model);
  const res = o.res as http.ServerResponse;
  let sent = 0;
  const write = async (data: unknown) => {
    const text = `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
    sent += Buffer.byteLength(text);
    if (!res.write(text)) await new Promise((r) => res.once("drain", r));
  };
  for await (const { event } of events) {
    if (!res.headersSent) {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-request-id": o.requestId,
      });
      await write(chunks.first());
    }
    if (event.case === "delta") await write(chunks.delta(event.value));
    else if (event.case === "done") {
      await write(chunks.finish(event.value));
      if (o.includeUsage) await write(chunks.usage(event.value));
    }
  }
  await write("[DONE]");
  res.end();
  return sent;
}
