-- A job's inputs manifest named by its hash, and its blobs recorded once
-- per manifest instead of once per job.
--
-- jobs.inputs_sha256 is the SHA-256 of jobs.inputs (the canonical JSON
-- the server stores), NULL for a job without inputs or stored before this
-- migration. A client re-running an unchanged project names its manifest
-- by this hash alone, and the server takes it from a job of the same
-- owner that has it (server/files.go): another owner's is not found. The
-- index serves that lookup and the worker's one below.
--
-- manifest_blobs lists the blobs of each manifest, written with the first
-- job that has it: a re-run of a project of 4,000 files no longer writes
-- 4,000 rows to blob_refs. A job references the blobs of its manifest as
-- it does those of its blob_refs rows (its stdin; every blob of a job
-- stored before this migration): for retention (BlobsReferenced), for
-- its owner (BlobsOwned) and for the worker that holds it (BlobsHeld).

-- +goose Up
ALTER TABLE jobs ADD COLUMN inputs_sha256 TEXT;
CREATE INDEX jobs_inputs_sha256 ON jobs (inputs_sha256, owner_id) WHERE inputs_sha256 IS NOT NULL;
CREATE TABLE manifest_blobs (
    manifest_sha256 TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    PRIMARY KEY (manifest_sha256, sha256)
);
CREATE INDEX manifest_blobs_sha256 ON manifest_blobs (sha256);

-- +goose Down
DROP TABLE manifest_blobs;
DROP INDEX jobs_inputs_sha256;
ALTER TABLE jobs DROP COLUMN inputs_sha256;
