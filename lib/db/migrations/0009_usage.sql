-- Metered usage per key, method and UTC day, added to in batches by the gateway.
CREATE TABLE usage (
  key_id    text NOT NULL,
  tenant_id text NOT NULL,
  method    text NOT NULL,
  day       date NOT NULL,
  calls     bigint NOT NULL DEFAULT 0,
  errors    bigint NOT NULL DEFAULT 0,
  bytes_in  bigint NOT NULL DEFAULT 0,
  bytes_out bigint NOT NULL DEFAULT 0,
  job_items bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (key_id, method, day)
);

CREATE INDEX usage_tenant_day ON usage (tenant_id, day DESC);
