-- A job's secret environment (rgrid run --secret-env): its values sealed
-- by the server with its key (AES-256-GCM, bound to the job's id), as the
-- server's internal/secrets writes them, with their names in clear. The
-- store keeps the bytes as they come; NULL for none. A batch's items each
-- have their own, sealed for the item's id.
--
-- It applies after 00012 (users and tokens).

-- +goose Up
ALTER TABLE jobs ADD COLUMN secret_env bytea;

-- +goose Down
ALTER TABLE jobs DROP COLUMN secret_env;
