-- Batches: one script over many inputs. A batch is a row here and its
-- items are ordinary jobs pointing at it (batch_id, with batch_index its
-- position and batch_input its input file's path or its array index), so
-- limits, retries, logs, outputs and fencing are a job's. What every item
-- shares is stored once, on the batch: the script and the manifest of the
-- shared working directory (an item's own jobs.inputs holds only its own
-- input file; the server adds the two when it leases the item). The blobs
-- the shared manifest names are referenced in blob_refs under the batch's
-- id, as a job's are under the job's.
--
-- The n_* columns count the items per state (n_running: leased or
-- running; n_failed: failed, timed_out, oom_killed; n_error: error, lost),
-- changed in the transaction that changes an item's state, as
-- store.BatchDelta says: progress is read from one row, never counted over
-- jobs. A claim leases an item only while n_running stays within
-- parallelism (0: no cap), under the batch row's lock.
--
-- idempotency_key is unique (NULL for none): a submission repeated with
-- the same key finds the batch made the first time.

-- +goose Up
CREATE TABLE batches (
    id              text        PRIMARY KEY,
    seq             bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    name            text        NOT NULL,
    kind            text        NOT NULL,
    size            integer     NOT NULL,
    parallelism     integer     NOT NULL DEFAULT 0,
    idempotency_key text        UNIQUE,
    script          bytea       NOT NULL,
    inputs          text,
    canceled        boolean     NOT NULL DEFAULT false,
    canceled_at     timestamptz,
    created_at      timestamptz NOT NULL,
    n_queued        integer     NOT NULL DEFAULT 0,
    n_running       integer     NOT NULL DEFAULT 0,
    n_succeeded     integer     NOT NULL DEFAULT 0,
    n_failed        integer     NOT NULL DEFAULT 0,
    n_error         integer     NOT NULL DEFAULT 0,
    n_canceled      integer     NOT NULL DEFAULT 0
);
ALTER TABLE jobs ADD COLUMN batch_id text;
ALTER TABLE jobs ADD COLUMN batch_index integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN batch_input text NOT NULL DEFAULT '';
CREATE INDEX jobs_batch_items ON jobs (batch_id, batch_index) WHERE batch_id IS NOT NULL;

-- +goose Down
DROP INDEX jobs_batch_items;
ALTER TABLE jobs DROP COLUMN batch_input;
ALTER TABLE jobs DROP COLUMN batch_index;
ALTER TABLE jobs DROP COLUMN batch_id;
DROP TABLE batches;
