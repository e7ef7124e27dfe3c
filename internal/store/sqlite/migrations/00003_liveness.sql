-- Liveness and placement: a job may ask to be retried after its script
-- fails, and a worker says the most a job may ask of it (0: no maximum).
-- Existing jobs are never retried; existing workers have no maximum.

-- +goose Up
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN max_memory_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN max_cpus REAL NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN max_pids INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN max_timeout_seconds INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workers DROP COLUMN max_timeout_seconds;
ALTER TABLE workers DROP COLUMN max_pids;
ALTER TABLE workers DROP COLUMN max_cpus;
ALTER TABLE workers DROP COLUMN max_memory_bytes;
ALTER TABLE jobs DROP COLUMN retries;
