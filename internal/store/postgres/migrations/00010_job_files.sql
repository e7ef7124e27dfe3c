-- A job's files: the manifest of its working directory (inputs: what the
-- client sent, each file a content-addressed blob), the manifest of what
-- it left behind (outputs, recorded with the result that ends the job,
-- and what collection left out, with reasons), and the blob piped to its
-- stdin. Manifests are JSON documents (internal/workdir), read and
-- written whole. blob_refs names every blob a job references, so that the
-- blob store's retention deletes only blobs no job references (an upload
-- never submitted, the outputs of an attempt retried). Additive: older
-- binaries neither read nor need these. disk_bytes is the job's limit on
-- its working directory (0: the worker's default), max_disk_bytes a
-- worker's maximum (0: none), like the other limits.

-- +goose Up
ALTER TABLE jobs ADD COLUMN inputs text;
ALTER TABLE jobs ADD COLUMN outputs text;
ALTER TABLE jobs ADD COLUMN outputs_skipped text;
ALTER TABLE jobs ADD COLUMN stdin_sha256 text NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN stdin_size bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN disk_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN max_disk_bytes bigint NOT NULL DEFAULT 0;
CREATE TABLE blob_refs (
    sha256 text NOT NULL,
    job_id text NOT NULL,
    PRIMARY KEY (sha256, job_id)
);

-- +goose Down
DROP TABLE blob_refs;
ALTER TABLE workers DROP COLUMN max_disk_bytes;
ALTER TABLE jobs DROP COLUMN disk_bytes;
ALTER TABLE jobs DROP COLUMN stdin_size;
ALTER TABLE jobs DROP COLUMN stdin_sha256;
ALTER TABLE jobs DROP COLUMN outputs_skipped;
ALTER TABLE jobs DROP COLUMN outputs;
ALTER TABLE jobs DROP COLUMN inputs;
