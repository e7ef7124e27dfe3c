-- Users, their API tokens, worker tokens and the audit log; who owns each
-- job and batch; which token registered each worker.
--
-- A token's secret is never stored: tokens.hash is the SHA-256 of the
-- whole token (a high-entropy random string, so a plain hash suffices),
-- and tokens.id its visible prefix. owner_id is '' for jobs and batches
-- made on an open grid (no users) and before this migration: only admins
-- see those. A job's idempotency_key is unique (NULL for none; the server
-- prefixes it with the owner's id): a submission repeated with the key
-- within a day finds the job made the first time; an older job's key is
-- cleared when the key is used again. max_queued and max_running are a
-- user's own limits (NULL: the server's default; 0: none). The audit log
-- is append-only: nothing in RGrid updates or deletes its rows.

-- +goose Up
CREATE TABLE users (
    id          text        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    role        text        NOT NULL,
    max_queued  integer,
    max_running integer,
    created_at  timestamptz NOT NULL
);
CREATE TABLE tokens (
    id           text        PRIMARY KEY,
    kind         text        NOT NULL,
    user_id      text        NOT NULL DEFAULT '',
    pool         text        NOT NULL DEFAULT '',
    name         text        NOT NULL DEFAULT '',
    hash         bytea       NOT NULL UNIQUE,
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id, created_at);
CREATE TABLE audit_log (
    id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text        NOT NULL,
    action text        NOT NULL,
    target text        NOT NULL DEFAULT '',
    detail text        NOT NULL DEFAULT ''
);
ALTER TABLE jobs ADD COLUMN owner_id text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_owner_seq ON jobs (owner_id, seq);
CREATE INDEX jobs_owner_queued ON jobs (owner_id) WHERE state = 'queued';
CREATE INDEX jobs_owner_active ON jobs (owner_id) WHERE state IN ('leased', 'running');
ALTER TABLE batches ADD COLUMN owner_id text NOT NULL DEFAULT '';
CREATE INDEX batches_owner_seq ON batches (owner_id, seq);
ALTER TABLE workers ADD COLUMN token_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workers DROP COLUMN token_id;
DROP INDEX batches_owner_seq;
ALTER TABLE batches DROP COLUMN owner_id;
DROP INDEX jobs_owner_active;
DROP INDEX jobs_owner_queued;
DROP INDEX jobs_owner_seq;
DROP INDEX jobs_idempotency;
ALTER TABLE jobs DROP COLUMN idempotency_key;
ALTER TABLE jobs DROP COLUMN owner_id;
DROP TABLE audit_log;
DROP TABLE tokens;
DROP TABLE users;
