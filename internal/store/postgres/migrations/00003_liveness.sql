-- Liveness and placement: a job may ask to be retried after its script
-- fails, and a worker says the most a job may ask of it (0: no maximum).
-- Existing jobs are never retried; existing workers have no maximum.

-- +goose Up
ALTER TABLE jobs ADD COLUMN retries integer NOT NULL DEFAULT 0;
ALTER TABLE workers
    ADD COLUMN max_memory_bytes    bigint           NOT NULL DEFAULT 0,
    ADD COLUMN max_cpus            double precision NOT NULL DEFAULT 0,
    ADD COLUMN max_pids            bigint           NOT NULL DEFAULT 0,
    ADD COLUMN max_timeout_seconds bigint           NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workers
    DROP COLUMN max_timeout_seconds,
    DROP COLUMN max_pids,
    DROP COLUMN max_cpus,
    DROP COLUMN max_memory_bytes;
ALTER TABLE jobs DROP COLUMN retries;
