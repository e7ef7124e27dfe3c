-- A job's row holds its latest attempt: the lease time joins worker_id,
-- attempt and started_at there. job_attempts holds every earlier attempt,
-- and the latest once it ended in a way recorded apart from the job
-- (lost, expired by the server, queued again); a worker's result that ends
-- the job is recorded on the job alone. A claim, a start and a finish then
-- write one row each, as a queue of jobs without attempts would.
--
-- job_attempts loses its foreign key: its rows are inserted only from the
-- job row they name, under that row's lock, and nothing deletes jobs (a
-- retention sweep must delete a job's attempts with it). The key's check
-- was a query per inserted attempt.
--
-- jobs_state_seq goes: every change of state inserted into it, at the few
-- hot spots where each state's newest jobs sit, and it was the costliest
-- part of a claim, a start and a finish. The queue has jobs_queued_seq,
-- active jobs have jobs_active_worker, and a listing of one state walks
-- jobs_seq_key from the newest job.

-- +goose Up
ALTER TABLE jobs ADD COLUMN leased_at timestamptz;
UPDATE jobs SET leased_at = a.leased_at
    FROM job_attempts a
    WHERE a.job_id = jobs.id AND a.number = jobs.attempt AND jobs.state IN ('leased', 'running');
DELETE FROM job_attempts WHERE state IN ('leased', 'running');
ALTER TABLE job_attempts DROP CONSTRAINT job_attempts_job_id_fkey;
DROP INDEX job_attempts_worker_state;
DROP INDEX jobs_state_seq;
-- A worker's active jobs (liveness, slots in use), and the few of them
-- asked to cancel (looked for on every lease).
CREATE INDEX jobs_active_worker ON jobs (worker_id) WHERE state IN ('leased', 'running');
CREATE INDEX jobs_cancel_requested ON jobs (worker_id)
    WHERE cancel_requested AND state IN ('leased', 'running');

-- +goose Down
CREATE INDEX jobs_state_seq ON jobs (state, seq);
DROP INDEX jobs_cancel_requested;
DROP INDEX jobs_active_worker;
INSERT INTO job_attempts (job_id, number, worker_id, state, exit_code, reason, message,
        leased_at, started_at, finished_at)
    SELECT id, attempt, worker_id, state, exit_code, reason, message,
        coalesce(leased_at, started_at, created_at), started_at, finished_at
    FROM jobs WHERE attempt > 0 AND state <> 'queued'
      AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = jobs.id AND a.number = jobs.attempt);
CREATE INDEX job_attempts_worker_state ON job_attempts (worker_id, state);
ALTER TABLE job_attempts ADD CONSTRAINT job_attempts_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;
ALTER TABLE jobs DROP COLUMN leased_at;
