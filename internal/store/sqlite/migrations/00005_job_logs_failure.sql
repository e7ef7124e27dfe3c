-- Per-job output cap, whether output was cut at it, and the failure
-- summary (a JSON object: exception, message, file, line) a worker
-- reports for a failed script. Existing jobs get the default cap.

-- +goose Up
ALTER TABLE jobs ADD COLUMN log_limit INTEGER NOT NULL DEFAULT 10485760;
ALTER TABLE jobs ADD COLUMN logs_truncated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN failure TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE jobs DROP COLUMN failure;
ALTER TABLE jobs DROP COLUMN logs_truncated;
ALTER TABLE jobs DROP COLUMN log_limit;
