-- Jobs may ask for network access; existing jobs had none.

-- +goose Up
ALTER TABLE jobs ADD COLUMN network INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN network;
