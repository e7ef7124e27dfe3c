-- The web console's needs: indexes for its filtered job lists, and the key
-- its session cookies are signed with.
--
-- A list of jobs is newest first, a page at a time by seq (keyset): a
-- filter by runtime or by batch walks its own index from the newest job
-- of that runtime or batch, not the whole table. Both are written once,
-- when a job is made (neither column changes). jobs_unsucceeded_seq holds
-- only the jobs that ended otherwise than succeeded, the few a filter by
-- such a state looks for; a job enters it once, when it ends (queued jobs
-- have jobs_queued_seq; leased and running ones are few).
--
-- server_keys holds keys the server makes once and every replica on the
-- database shares: 'console_session' signs console sessions, so that they
-- survive a restart and work on every replica. The first server to need a
-- key stores it; the others read it.
--
-- Creating the indexes reads the whole jobs table once (a few seconds per
-- million jobs) and holds off writes to it meanwhile.

-- +goose Up
CREATE INDEX jobs_runtime_seq ON jobs (runtime, seq);
CREATE INDEX jobs_batch_seq ON jobs (batch_id, seq) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_unsucceeded_seq ON jobs (state, seq)
    WHERE state IN ('failed', 'timed_out', 'oom_killed', 'canceled', 'lost', 'error');
CREATE TABLE server_keys (
    name       TEXT NOT NULL PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE server_keys;
DROP INDEX jobs_unsucceeded_seq;
DROP INDEX jobs_batch_seq;
DROP INDEX jobs_runtime_seq;
