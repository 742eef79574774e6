-- Tokens and cost of LLM calls per tenant, key, provider model and UTC day, added to by the LLM service.
CREATE TABLE llm_usage (
  tenant_id         text NOT NULL,
  key_id            text NOT NULL,
  provider          text NOT NULL,
  model             text NOT NULL,
  day               date NOT NULL,
  calls             bigint NOT NULL DEFAULT 0,
  prompt_tokens     bigint NOT NULL DEFAULT 0,
  completion_tokens bigint NOT NULL DEFAULT 0,
  cached_tokens     bigint NOT NULL DEFAULT 0,
  cost_usd          numeric(20, 8) NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day, key_id, provider, model)
);
