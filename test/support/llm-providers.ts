/**
 * Local servers speaking the LLM providers' wire protocols (OpenAI's Chat Completions and
 * Embeddings, Anthropic's Messages), for tests and benches: the one place a stand-in is right,
 * since the real providers lie outside this machine. The model name picks the behaviour:
 *
 * - `echo` answers "You said: <last user text>" in several chunks; `count-<n>` writes n tokens;
 *   `paced-<n>-<ms>` writes n tokens, one every ms milliseconds (a model's pace).
 * - `tools` calls the first declared tool; `undeclared-tool` calls a tool nobody declared.
 * - `json` answers {"name": "Ada", "age": 36}; `bad-json` answers {"name": 5}.
 * - `rate-limited-once` answers 429 (Retry-After: 0) the first time, then as `echo`;
 *   `always-429` always 429 with Retry-After: 1; `always-500` always 500.
 * - A suffix (`always-500~b`, `hang~2`) keeps the behaviour as another deployment.
 * - `hang` never answers; `drop` sends two chunks and holds the stream open until `cut()` closes its
 *   connection (so a test cuts it once the caller has the two); `garbage` sends a
 *   stream whose events are not JSON.
 * - Embeddings: 8 dimensions (or `dimensions`) computed from the text.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";

/** A request the server received. */
export interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

/** A running test provider. */
export interface TestProvider {
  /** Base URL as the SDK takes it (`…/v1` for OpenAI, the origin for Anthropic). */
  url: string;
  received: Received[];
  /** Requests whose caller went away before the answer ended. */
  cancelled: number;
  /** Requests being answered now. */
  open: number;
  /** Closes the connections of the `drop` streams held open. */
  cut(): void;
  close(): Promise<void>;
}

type Msg = { role: string; content: unknown };

const lastUserText = (messages: Msg[]) => {
  const textOf = (m: Msg) =>
    typeof m.content === "string"
      ? m.content
      : (m.content as { type: string; text?: string }[])
          .filter((p) => p.type === "text")
          .map((p) => p.text)
          .join("");
  const last = messages.findLast((x) => x.role === "user" && textOf(x) !== "");
  return last ? textOf(last) : "";
};

/** Words of the text as the chunks a model would stream. */
const chunksOf = (text: string) => text.split(/(?<= )/);

/** A deterministic vector for a text. */
export function testVector(text: string, dimensions = 8): number[] {
  const hash = createHash("sha256").update(text).digest();
  return Array.from({ length: dimensions }, (_, i) => (hash[i % 32] - 128) / 128);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : {};
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** Starts a server with `answer` for each request; tracks requests, open answers and cancellations. */
async function start(
  /** `hold(res)` keeps an answer open until the provider's `cut()`. */
  answer: (req: Received, res: ServerResponse, hold: (res: ServerResponse) => void) => Promise<unknown> | unknown,
  path: string,
): Promise<TestProvider> {
  const sockets = new Set<import("node:net").Socket>();
  const held = new Set<ServerResponse>();
  const state: TestProvider = {
    url: "",
    received: [],
    cancelled: 0,
    open: 0,
    cut: () => {
      for (const res of held) res.socket?.destroy();
      held.clear();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  const server = createServer(async (req, res) => {
    const received = { path: req.url ?? "", headers: req.headers, body: await readJson(req) };
    state.received.push(received);
    state.open++;
    res.on("close", () => {
      state.open--;
      if (!res.writableFinished) state.cancelled++;
    });
    await answer(received, res, (r) => held.add(r));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  state.url = `http://127.0.0.1:${port}${path}`;
  return state;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

/** The behaviour a model name asks for, with per-model counters for `…-once`. */
function behaviour(model: string, seen: Map<string, number>) {
  const n = (seen.get(model) ?? 0) + 1;
  seen.set(model, n);
  if (model === "rate-limited-once") return n === 1 ? "429-once" : "echo";
  // `always-500~b`, `hang~2`: the same behaviour as a different deployment (cooldowns are per deployment).
  return model.split("~")[0];
}

/** An OpenAI-compatible server (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`). */
export function startOpenAiProvider(): Promise<TestProvider> {
  const seen = new Map<string, number>();
  return start(async ({ path, body }, res, hold) => {
    if (path.startsWith("/v1/models"))
      return json(res, 200, { object: "list", data: [{ id: "echo", object: "model" }] });
    if (path.startsWith("/v1/embeddings")) {
      const input = (Array.isArray(body.input) ? body.input : [body.input]) as string[];
      if (body.model === "always-500") return json(res, 500, { error: { message: "boom" } });
      return json(res, 200, {
        object: "list",
        model: body.model,
        data: input.map((t, index) => ({
          object: "embedding",
          index,
          embedding: testVector(t, Number(body.dimensions) || 8),
        })),
        usage: { prompt_tokens: input.join(" ").split(/\s+/).length, total_tokens: 0 },
      });
    }
    if (!path.startsWith("/v1/chat/completions")) return json(res, 404, { error: { message: "no such route" } });
    const model = String(body.model);
    const kind = behaviour(model, seen);
    const messages = body.messages as Msg[];
    if (kind === "429-once") return json(res, 429, { error: { message: "slow down" } }, { "retry-after": "0" });
    if (kind === "always-429") return json(res, 429, { error: { message: "slow down" } }, { "retry-after": "1" });
    if (kind === "always-500") return json(res, 500, { error: { message: "boom" } });
    if (kind === "hang") return; // never answers
    const tools = (body.tools ?? []) as { function: { name: string } }[];
    let content: string[] = [];
    let toolCall: { name: string; arguments: string } | undefined;
    let finish = "stop";
    if (kind === "tools" && tools.length > 0)
      toolCall = { name: tools[0].function.name, arguments: '{"city":"Paris"}' };
    else if (kind === "undeclared-tool") toolCall = { name: "launch_missiles", arguments: "{}" };
    else if (kind === "json") content = ['{"name": ', '"Ada", "age": 36}'];
    else if (kind === "bad-json") content = ['{"name": 5}'];
    else if (kind.startsWith("count-")) content = Array.from({ length: Number(kind.slice(6)) }, (_, i) => `t${i} `);
    else if (kind.startsWith("paced-"))
      content = Array.from({ length: Number(kind.split("-")[1]) }, (_, i) => `t${i} `);
    else content = chunksOf(`You said: ${lastUserText(messages)}`);
    if (toolCall) finish = "tool_calls";
    const maxTokens = Number(body.max_tokens ?? body.max_completion_tokens ?? 0);
    if (maxTokens > 0 && content.length > maxTokens) {
      content = content.slice(0, maxTokens);
      finish = "length";
    }
    const promptTokens = JSON.stringify(messages).split(/\s+/).length;
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: content.length || 1,
      total_tokens: promptTokens + content.length,
      prompt_tokens_details: { cached_tokens: 0 },
    };
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const base = { id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model };
    if (!body.stream) {
      return json(res, 200, {
        id,
        object: "chat.completion",
        created: base.created,
        model,
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: toolCall ? null : content.join(""),
              ...(toolCall && { tool_calls: [{ id: "call_1", type: "function", function: toolCall }] }),
            },
            finish_reason: finish,
          },
        ],
        usage,
      });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (data: unknown) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    if (kind === "garbage") {
      send("this is not json");
      return res.end();
    }
    send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
    if (toolCall) {
      send({
        ...base,
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: [
                { index: 0, id: "call_1", type: "function", function: { name: toolCall.name, arguments: "" } },
              ],
            },
            finish_reason: null,
          },
        ],
      });
      send({
        ...base,
        choices: [
          {
            index: 0,
            delta: { tool_calls: [{ index: 0, function: { arguments: toolCall.arguments } }] },
            finish_reason: null,
          },
        ],
      });
    }
    const pace = kind.startsWith("paced-") ? Number(kind.split("-")[2]) : 0;
    for (const [i, c] of content.entries()) {
      if (pace > 0 && i > 0) await new Promise((r) => setTimeout(r, pace));
      if (res.destroyed) return;
      send({ ...base, choices: [{ index: 0, delta: { content: c }, finish_reason: null }] });
      if (kind === "drop" && i === 1) {
        hold(res); // until cut(): the caller reads the two chunks first
        return;
      }
    }
    if (kind === "drop") return void res.socket?.destroy();
    send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] });
    if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage)
      send({ ...base, choices: [], usage });
    send("[DONE]");
    res.end();
  }, "/v1");
}

/** An Anthropic-compatible server (`/v1/messages`, streamed or not). */
export function startAnthropicProvider(): Promise<TestProvider> {
  const seen = new Map<string, number>();
  return start(async ({ path, body }, res) => {
    if (!path.startsWith("/v1/messages"))
      return json(res, 404, { type: "error", error: { type: "not_found_error", message: "no such route" } });
    const model = String(body.model);
    const kind = behaviour(model, seen);
    if (kind === "429-once")
      return json(
        res,
        429,
        { type: "error", error: { type: "rate_limit_error", message: "slow down" } },
        { "retry-after": "0" },
      );
    if (kind === "always-500")
      return json(res, 529, { type: "error", error: { type: "overloaded_error", message: "overloaded" } });
    if (kind === "hang") return;
    const tools = (body.tools ?? []) as { name: string }[];
    const forced = (body.tool_choice as { type?: string; name?: string } | undefined)?.type === "tool";
    let text = "";
    let tool: { name: string; input: string } | undefined;
    if (forced)
      tool = { name: tools[0].name, input: kind === "bad-json" ? '{"name": 5}' : '{"name": "Ada", "age": 36}' };
    else if (kind === "tools" && tools.length > 0) tool = { name: tools[0].name, input: '{"city":"Paris"}' };
    else text = `You said: ${lastUserText(body.messages as Msg[])}`;
    const usage = {
      input_tokens: JSON.stringify(body.messages).split(/\s+/).length,
      output_tokens: 0,
      cache_read_input_tokens: 2,
      cache_creation_input_tokens: 0,
    };
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (event: string, data: Record<string, unknown>) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
    send("message_start", {
      message: { id: "msg_1", type: "message", role: "assistant", model, content: [], stop_reason: null, usage },
    });
    let outputs = 0;
    if (text) {
      send("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
      for (const c of chunksOf(text)) {
        outputs++;
        send("content_block_delta", { index: 0, delta: { type: "text_delta", text: c } });
      }
      send("content_block_stop", { index: 0 });
    }
    if (tool) {
      send("content_block_start", {
        index: 0,
        content_block: { type: "tool_use", id: "toolu_1", name: tool.name, input: {} },
      });
      send("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: tool.input } });
      send("content_block_stop", { index: 0 });
      outputs = 5;
    }
    send("message_delta", {
      delta: { stop_reason: tool ? "tool_use" : "end_turn", stop_sequence: null },
      usage: { output_tokens: outputs },
    });
    send("message_stop", {});
    res.end();
  }, "");
}
