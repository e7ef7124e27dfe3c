-- What jobs cost. A worker registers its price per hour in integer
-- micro-units of its currency (price_micros; 0: free, not priced), the
-- currency's code, its CPUs and memory (what a job's share is taken of)
-- and its billing granularity in seconds. A claim writes, for the attempt
-- it makes, the rate the job is charged: the worker's price times the
-- job's share of the worker, the larger of its CPUs and its memory over
-- the worker's (store.Rate), in micro-units per hour, with the currency.
-- The job row holds its current attempt's rate, job_attempts each
-- recorded attempt's; an attempt's cost is its rate times its run time
-- (never started: nothing). The partial indexes find the priced attempts
-- that ended in a period without weighing on unpriced grids; the owner
-- index sums one user's for their budget.
--
-- A user's budget is budget_micros (NULL: none) of budget_currency per
-- calendar month (UTC). A submission holds its jobs' worst case against
-- it (budget_holds: one row per job, its time limit times the dearest
-- worker's rate, for each run it may have); a hold counts while its job
-- is not finished (or, for a minute, before the job row exists), after
-- which the job's attempts count at what they cost.

-- +goose Up
ALTER TABLE workers ADD COLUMN price_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN currency text NOT NULL DEFAULT '';
ALTER TABLE workers ADD COLUMN cpus double precision NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN memory_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN billing_seconds integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN rate_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN currency text NOT NULL DEFAULT '';
ALTER TABLE job_attempts ADD COLUMN rate_micros bigint NOT NULL DEFAULT 0;
ALTER TABLE job_attempts ADD COLUMN currency text NOT NULL DEFAULT '';
CREATE INDEX jobs_priced_finished ON jobs (finished_at) WHERE rate_micros > 0;
CREATE INDEX jobs_priced_owner ON jobs (owner_id, finished_at) WHERE rate_micros > 0;
ALTER TABLE users ADD COLUMN budget_micros bigint;
ALTER TABLE users ADD COLUMN budget_currency text NOT NULL DEFAULT '';
CREATE TABLE budget_holds (
    job_id     text PRIMARY KEY,
    user_id    text NOT NULL,
    micros     bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX budget_holds_user ON budget_holds (user_id);
CREATE INDEX job_attempts_priced_finished ON job_attempts (finished_at) WHERE rate_micros > 0;

-- +goose Down
DROP TABLE budget_holds;
ALTER TABLE users DROP COLUMN budget_currency;
ALTER TABLE users DROP COLUMN budget_micros;
DROP INDEX jobs_priced_owner;
DROP INDEX job_attempts_priced_finished;
DROP INDEX jobs_priced_finished;
ALTER TABLE job_attempts DROP COLUMN currency;
ALTER TABLE job_attempts DROP COLUMN rate_micros;
ALTER TABLE jobs DROP COLUMN currency;
ALTER TABLE jobs DROP COLUMN rate_micros;
ALTER TABLE workers DROP COLUMN billing_seconds;
ALTER TABLE workers DROP COLUMN memory_bytes;
ALTER TABLE workers DROP COLUMN cpus;
ALTER TABLE workers DROP COLUMN currency;
ALTER TABLE workers DROP COLUMN price_micros;
