-- The SHA-256 of a job's inputs manifest in its canonical encoding (the
-- JSON the server stores in jobs.inputs), NULL for a job without one. A
-- client re-running an unchanged project names its manifest by this hash
-- alone, and the server takes the manifest from a job of the same owner
-- that has it, instead of receiving, checking and storing 4,000 entries
-- again (server/files.go). The index serves that lookup: by owner, so
-- that one user cannot learn whether another's manifest exists.

-- +goose Up
ALTER TABLE jobs ADD COLUMN inputs_sha256 TEXT;
CREATE INDEX jobs_owner_inputs_sha256 ON jobs (owner_id, inputs_sha256) WHERE inputs_sha256 IS NOT NULL;

-- +goose Down
DROP INDEX jobs_owner_inputs_sha256;
ALTER TABLE jobs DROP COLUMN inputs_sha256;
