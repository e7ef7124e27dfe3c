-- The same model as PostgreSQL's 00007: a job's row holds its latest
-- attempt (the lease time joins worker_id, attempt and started_at there),
-- and job_attempts holds every earlier attempt, and the latest once it
-- ended in a way recorded apart from the job (lost, expired by the server,
-- queued again); a worker's result that ends the job is recorded on the
-- job alone. Attempts that were active move onto their job's row.
--
-- job_attempts loses its foreign key, as on PostgreSQL (rows are inserted
-- only from the job row they name, under the write lock, and nothing
-- deletes jobs: a retention sweep must delete a job's attempts with it).
-- SQLite drops a constraint by rebuilding the table. jobs_state_seq and
-- job_attempts_worker_state go; a worker's active jobs and the few asked
-- to cancel get the partial indexes PostgreSQL has.

-- +goose Up
ALTER TABLE jobs ADD COLUMN leased_at INTEGER;
UPDATE jobs SET leased_at = (SELECT a.leased_at FROM job_attempts a
        WHERE a.job_id = jobs.id AND a.number = jobs.attempt)
    WHERE state IN ('leased', 'running');
DELETE FROM job_attempts WHERE state IN ('leased', 'running');
CREATE TABLE job_attempts_new (
    job_id      TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    worker_id   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    exit_code   INTEGER,
    reason      TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT '',
    leased_at   INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (job_id, number)
);
INSERT INTO job_attempts_new (job_id, number, worker_id, state, exit_code, reason, message,
        leased_at, started_at, finished_at)
    SELECT job_id, number, worker_id, state, exit_code, reason, message,
        leased_at, started_at, finished_at FROM job_attempts;
DROP TABLE job_attempts;
ALTER TABLE job_attempts_new RENAME TO job_attempts;
DROP INDEX jobs_state_seq;
CREATE INDEX jobs_active_worker ON jobs (worker_id) WHERE state IN ('leased', 'running');
CREATE INDEX jobs_cancel_requested ON jobs (worker_id)
    WHERE cancel_requested AND state IN ('leased', 'running');

-- +goose Down
CREATE INDEX jobs_state_seq ON jobs (state, seq);
DROP INDEX jobs_cancel_requested;
DROP INDEX jobs_active_worker;
CREATE TABLE job_attempts_old (
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    worker_id   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    exit_code   INTEGER,
    reason      TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT '',
    leased_at   INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (job_id, number)
);
INSERT INTO job_attempts_old (job_id, number, worker_id, state, exit_code, reason, message,
        leased_at, started_at, finished_at)
    SELECT job_id, number, worker_id, state, exit_code, reason, message,
        leased_at, started_at, finished_at FROM job_attempts
    WHERE job_id IN (SELECT id FROM jobs);
INSERT INTO job_attempts_old (job_id, number, worker_id, state, exit_code, reason, message,
        leased_at, started_at, finished_at)
    SELECT id, attempt, worker_id, state, exit_code, reason, message,
        coalesce(leased_at, started_at, created_at), started_at, finished_at
    FROM jobs WHERE attempt > 0 AND state <> 'queued'
      AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id AND a.number = jobs.attempt);
DROP TABLE job_attempts;
ALTER TABLE job_attempts_old RENAME TO job_attempts;
CREATE INDEX job_attempts_worker_state ON job_attempts (worker_id, state);
ALTER TABLE jobs DROP COLUMN leased_at;
