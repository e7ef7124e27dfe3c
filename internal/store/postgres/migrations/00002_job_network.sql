-- Jobs may ask for network access; existing jobs had none.

-- +goose Up
ALTER TABLE jobs ADD COLUMN network boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE jobs DROP COLUMN network;
