-- A job's inputs manifest stored once, by its hash, instead of in every
-- job row that has it.
--
-- A re-run of an unchanged project of 4,000 files made a new job row
-- holding its own copy of the same 650 KB manifest: the database grew by
-- that much a run, and on SQLite every update of the row (lease, start,
-- result) wrote the whole record again, the manifest with it. manifests
-- holds each manifest once, keyed by jobs.inputs_sha256 (the SHA-256 of
-- body, the canonical JSON the server stores); a job's row keeps only the
-- hash. jobs.inputs stays for what has no hash: a job stored before 00019
-- and an item of a batch (its own few files, beside the batch's shared
-- manifest in batches.inputs). Readers take jobs.inputs, else the body
-- its hash names.
--
-- Not compatible: a binary before this one would read the inputs of a new
-- job from jobs.inputs, which is now empty.

-- +goose Up
CREATE TABLE manifests (
    sha256 TEXT PRIMARY KEY,
    body   TEXT NOT NULL
);
INSERT INTO manifests (sha256, body)
    SELECT DISTINCT inputs_sha256, inputs FROM jobs
    WHERE inputs_sha256 IS NOT NULL AND inputs IS NOT NULL
    ON CONFLICT DO NOTHING;
UPDATE jobs SET inputs = NULL WHERE inputs_sha256 IS NOT NULL AND inputs IS NOT NULL;

-- +goose Down
UPDATE jobs SET inputs = (SELECT m.body FROM manifests m WHERE m.sha256 = jobs.inputs_sha256)
    WHERE inputs_sha256 IS NOT NULL AND inputs IS NULL;
DROP TABLE manifests;
