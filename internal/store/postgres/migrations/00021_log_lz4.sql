-- Log chunks are compressed with lz4 instead of PostgreSQL's default
-- pglz: storing a megabyte of log text costs about a quarter of the CPU,
-- for a few percent more disk. It applies to chunks stored from now on;
-- those stored before stay as they are and read as before. A server
-- without lz4 (PostgreSQL before 14, or one built without it) keeps pglz:
-- the migration then changes nothing.
--
-- Old binaries run on against it unchanged (nothing they read or write
-- changes), so it is compatible (see internal/database/compat.go):
-- rgrid:compatible

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE job_log_chunks ALTER COLUMN data SET COMPRESSION lz4';
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server: log chunks stay compressed with pglz';
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE job_log_chunks ALTER COLUMN data SET COMPRESSION default';
    END IF;
END
$$;
-- +goose StatementEnd
