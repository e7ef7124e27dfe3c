-- Pool budgets. An admin gives a pool a monthly budget (micros of
-- currency per calendar month, UTC; no row: none). A worker of a pool
-- with a budget claims a job only when its worst case, the job's time
-- limit at the worker's rate for it, fits what is left; the claim, in its
-- own transaction under the pool_budgets row's lock, writes the hold
-- (pool_holds: one row per attempt). A hold counts at its amount while its
-- attempt is leased or running, and at the attempt's cost once it ended
-- (in the month it ended): settled by reading, nothing to update. New
-- tables only: replicas of the previous schema run on beside them
-- (without pool budgets).
--
-- rgrid:compatible

-- +goose Up
CREATE TABLE pool_budgets (
    pool       text PRIMARY KEY,
    micros     bigint NOT NULL,
    currency   text NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE pool_holds (
    job_id     text NOT NULL,
    attempt    integer NOT NULL,
    pool       text NOT NULL,
    micros     bigint NOT NULL,
    currency   text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX pool_holds_pool ON pool_holds (pool, created_at);

-- +goose Down
DROP TABLE pool_holds;
DROP TABLE pool_budgets;
