-- How many warm containers (rgrid worker --warm) a worker has waiting,
-- as its last heartbeat said; 0 for a worker without a pool or from
-- before this migration. Shown by rgrid workers.

-- +goose Up
ALTER TABLE workers ADD COLUMN warm INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE workers DROP COLUMN warm;
