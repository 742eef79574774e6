-- API keys: only a SHA-256 of the secret is stored; the secret is shown once at creation.
CREATE TABLE api_keys (
  seq         bigserial UNIQUE,
  id          text PRIMARY KEY,
  tenant_id   text NOT NULL,
  name        text NOT NULL DEFAULT '',
  tier        smallint NOT NULL,
  scopes      text[] NOT NULL,
  secret_hash bytea NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  revoke_time timestamptz
);

CREATE INDEX api_keys_tenant_seq ON api_keys (tenant_id, seq DESC);
