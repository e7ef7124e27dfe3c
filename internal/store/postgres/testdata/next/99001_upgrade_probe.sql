-- The migration of a newer rgrid, for the rolling-upgrade test only: it is
-- embedded by builds with the tag rgrid_next_migration (never a release).
-- Additive, as a compatible migration must be: a nullable column and an
-- index built concurrently, outside a transaction.
--
-- rgrid:compatible

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS upgrade_probe text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_upgrade_probe ON jobs (upgrade_probe) WHERE upgrade_probe IS NOT NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS jobs_upgrade_probe;
ALTER TABLE jobs DROP COLUMN IF EXISTS upgrade_probe;
