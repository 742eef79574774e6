/**
 * Tokens and cost per tenant, key, provider model and UTC day (PostgreSQL's `llm_usage`, or memory
 * for a service without a database), the price table that makes cost, and the budgets that refuse
 * a tenant's calls once its day's or month's tokens are spent.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Sql } from "#db/sql.js";
import type { Budget, Price } from "./config.js";
import type { TokenUsage } from "./providers/provider.js";

/** One call's usage. */
export interface UsageRecord {
  tenant: string;
  keyId: string;
  provider: string;
  model: string;
  usage: TokenUsage;
  costUsd: number;
}

/** Tokens a tenant has used. */
export interface Spent {
  today: number;
  month: number;
}

/** Where usage is kept. */
export interface UsageStore {
  record(r: UsageRecord): Promise<void>;
  /** Prompt and completion tokens the tenant used today and this month (UTC). */
  spent(tenant: string): Promise<Spent>;
}

const dayOf = (d = new Date()) => d.toISOString().slice(0, 10);

/** Usage in PostgreSQL: one row per tenant, day, key and model, added to. */
export function createSqlUsageStore(sql: Sql): UsageStore {
  return {
    async record(r) {
      await sql`
        INSERT INTO llm_usage (tenant_id, key_id, provider, model, day, calls, prompt_tokens, completion_tokens, cached_tokens, cost_usd)
        VALUES (${r.tenant}, ${r.keyId}, ${r.provider}, ${r.model}, ${dayOf()}, 1, ${r.usage.prompt}, ${r.usage.completion}, ${r.usage.cached}, ${r.costUsd})
        ON CONFLICT (tenant_id, day, key_id, provider, model) DO UPDATE SET
          calls = llm_usage.calls + 1,
          prompt_tokens = llm_usage.prompt_tokens + EXCLUDED.prompt_tokens,
          completion_tokens = llm_usage.completion_tokens + EXCLUDED.completion_tokens,
          cached_tokens = llm_usage.cached_tokens + EXCLUDED.cached_tokens,
          cost_usd = llm_usage.cost_usd + EXCLUDED.cost_usd`;
    },
    async spent(tenant) {
      const today = dayOf();
      const [row] = await sql<{ today: string | null; month: string | null }[]>`
        SELECT sum(prompt_tokens + completion_tokens) FILTER (WHERE day = ${today}) AS today,
               sum(prompt_tokens + completion_tokens) AS month
        FROM llm_usage WHERE tenant_id = ${tenant} AND day >= date_trunc('month', ${today}::date)`;
      return { today: Number(row?.today ?? 0), month: Number(row?.month ?? 0) };
    },
  };
}

/** Usage in memory (a service without a database). */
export function createMemoryUsageStore(): UsageStore & { rows: (UsageRecord & { day: string })[] } {
  const rows: (UsageRecord & { day: string })[] = [];
  return {
    rows,
    async record(r) {
      rows.push({ ...r, day: dayOf() });
    },
    async spent(tenant) {
      const today = dayOf();
      const mine = rows.filter((r) => r.tenant === tenant && r.day.slice(0, 7) === today.slice(0, 7));
      const sum = (list: typeof mine) => list.reduce((n, r) => n + r.usage.prompt + r.usage.completion, 0);
      return { today: sum(mine.filter((r) => r.day === today)), month: sum(mine) };
    },
  };
}

/** A call's cost in US dollars by the price table (prices per million tokens). */
export function costOf(prices: Record<string, Price>, model: string, usage: TokenUsage): number {
  const price = prices[model];
  if (!price) return 0;
  const cachedPrice = price.cached ?? price.prompt;
  const uncached = Math.max(0, usage.prompt - usage.cached);
  return (uncached * price.prompt + usage.cached * cachedPrice + usage.completion * price.completion) / 1e6;
}

/** Refuses a call when the tenant's budget is spent; budgets by tenant, `*` for every tenant. */
export async function checkBudget(
  store: UsageStore,
  budgets: Record<string, Partial<Budget>>,
  tenant: string,
): Promise<void> {
  const budget = budgets[tenant] ?? budgets["*"];
  if (!budget || (!budget.tokensPerDay && !budget.tokensPerMonth)) return;
  const spent = await store.spent(tenant);
  if (budget.tokensPerDay && spent.today >= budget.tokensPerDay)
    throw new ConnectError(
      `the tenant's LLM budget of ${budget.tokensPerDay} tokens a day is spent (${spent.today} used); it renews at 00:00 UTC`,
      Code.ResourceExhausted,
    );
  if (budget.tokensPerMonth && spent.month >= budget.tokensPerMonth)
    throw new ConnectError(
      `the tenant's LLM budget of ${budget.tokensPerMonth} tokens a month is spent (${spent.month} used)`,
      Code.ResourceExhausted,
    );
}
