-- A job's Python requirements, validated and normalized (a JSON array of
-- PEP 508 strings). Existing jobs have none.

-- +goose Up
ALTER TABLE jobs ADD COLUMN requirements jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE jobs DROP COLUMN requirements;
