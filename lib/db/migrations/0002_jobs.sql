-- Jobs: PostgreSQL is the source of truth for jobs, their items, results and events.
CREATE TABLE jobs (
  seq              bigserial UNIQUE,
  id               text PRIMARY KEY,
  tenant_id        text NOT NULL,
  method           text NOT NULL,
  batch            boolean NOT NULL,
  state            smallint NOT NULL,
  total            integer NOT NULL,
  succeeded        integer NOT NULL DEFAULT 0,
  failed           integer NOT NULL DEFAULT 0,
  cancelled        integer NOT NULL DEFAULT 0,
  last_seq         bigint NOT NULL DEFAULT 0,
  idempotency_key  text,
  request_id       text NOT NULL DEFAULT '',
  traceparent      text NOT NULL DEFAULT '',
  webhook_url      text,
  webhook_secret   text,
  webhook_attempts integer NOT NULL DEFAULT 0,
  webhook_next_at  timestamptz,
  webhook_done_at  timestamptz,
  webhook_error    text,
  create_time      timestamptz NOT NULL DEFAULT now(),
  finish_time      timestamptz
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_tenant_seq ON jobs (tenant_id, seq DESC);
CREATE INDEX jobs_webhook_due ON jobs (webhook_next_at) WHERE webhook_next_at IS NOT NULL AND webhook_done_at IS NULL;

CREATE TABLE job_items (
  job_id   text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx      integer NOT NULL,
  state    smallint NOT NULL,
  request  bytea NOT NULL,
  result   bytea,
  error    bytea,
  attempts integer NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, idx)
);

-- Every event a watcher sees, as a serialized WatchJobResponse; seq is gapless per job.
CREATE TABLE job_events (
  job_id  text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq     bigint NOT NULL,
  payload bytea NOT NULL,
  PRIMARY KEY (job_id, seq)
);

-- Tasks committed with their job and not yet acknowledged by the bus (transactional outbox).
CREATE TABLE job_outbox (
  job_id     text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx        integer NOT NULL,
  subject    text NOT NULL,
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, idx)
);
