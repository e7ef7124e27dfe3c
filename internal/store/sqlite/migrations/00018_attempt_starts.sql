-- Where each attempt's start went, as its worker measured it: how long it
-- took to have the image (and the requirements' environment) ready, to
-- stage the inputs, to create and start the container until the process
-- ran, and from then to the first output byte (or the exit, for a run that
-- printed nothing). One row per attempt, written once with the attempt's
-- result; durations in INTEGER nanoseconds. The wait in the queue (lease)
-- is not stored: the server reads it from the job's and attempts' times.
-- No foreign key, as job_attempts has none (00007). A new table: replicas
-- of the previous schema run on beside it (they record no timings).
--
-- It applies after 00016 (00017 is another change's).
--
-- rgrid:compatible marks it so (see internal/database/compat.go):
-- rgrid:compatible

-- +goose Up
CREATE TABLE attempt_starts (
    job_id        TEXT   NOT NULL,
    attempt       INTEGER NOT NULL,
    image_ns      INTEGER NOT NULL DEFAULT 0,
    stage_ns      INTEGER NOT NULL DEFAULT 0,
    container_ns  INTEGER NOT NULL DEFAULT 0,
    first_byte_ns INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, attempt)
);

-- +goose Down
DROP TABLE attempt_starts;
