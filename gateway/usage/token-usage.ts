/**
 * Reading the tokens and cost of calls to language models (`llm_usage`, written by the LLM
 * service as each call is answered) for AdminService and AccountService.
 */
import type { Sql } from "#db/sql.js";
import { maxUsageRecords, type UsageFilter } from "./meter.js";

/** Which token usage to read. */
export interface TokenUsageFilter extends Omit<UsageFilter, "method"> {
  model?: string;
}

/** Reads token usage (queryTokenUsage over the gateway's database). */
export type TokenUsageReader = (filter: TokenUsageFilter) => ReturnType<typeof queryTokenUsage>;

/** Token usage per tenant, key, provider model and day, newest day first, as `TokenUsage` fields. */
export async function queryTokenUsage(sql: Sql, f: TokenUsageFilter) {
  const rows = await sql<
    {
      key_id: string;
      tenant_id: string;
      provider: string;
      model: string;
      day: string;
      calls: string;
      prompt_tokens: string;
      completion_tokens: string;
      cached_tokens: string;
      cost_usd: number;
    }[]
  >`
    SELECT key_id, tenant_id, provider, model, to_char(day, 'YYYY-MM-DD') AS day,
           calls::text AS calls, prompt_tokens::text AS prompt_tokens,
           completion_tokens::text AS completion_tokens, cached_tokens::text AS cached_tokens,
           cost_usd::float8 AS cost_usd
    FROM llm_usage
    WHERE day BETWEEN ${f.startDay}::date AND ${f.endDay}::date
      ${f.tenantId ? sql`AND tenant_id = ${f.tenantId}` : sql``}
      ${f.keyId ? sql`AND key_id = ${f.keyId}` : sql``}
      ${f.model ? sql`AND model = ${f.model}` : sql``}
    ORDER BY day DESC, tenant_id, key_id, provider, model
    LIMIT ${maxUsageRecords}`;
  return rows.map((r) => ({
    keyId: r.key_id,
    tenantId: r.tenant_id,
    provider: r.provider,
    model: r.model,
    day: r.day,
    calls: BigInt(r.calls),
    promptTokens: BigInt(r.prompt_tokens),
    completionTokens: BigInt(r.completion_tokens),
    cachedTokens: BigInt(r.cached_tokens),
    costUsd: r.cost_usd,
  }));
}
