-- The first schema of RGrid on SQLite. Times are INTEGER unix nanoseconds in
-- UTC. seq is the rowid (INTEGER PRIMARY KEY AUTOINCREMENT, so it never goes
-- back) because SQLite can only auto-assign the primary key; id is the job's
-- identity and what the other tables reference.

-- +goose Up
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    state            TEXT    NOT NULL,
    file_name        TEXT    NOT NULL,
    script           BLOB    NOT NULL,
    script_size      INTEGER NOT NULL,
    args             TEXT    NOT NULL DEFAULT '[]',
    runtime          TEXT    NOT NULL,
    env              TEXT    NOT NULL DEFAULT '{}',
    memory_bytes     INTEGER NOT NULL DEFAULT 0,
    cpus             REAL    NOT NULL DEFAULT 0,
    pids             INTEGER NOT NULL DEFAULT 0,
    timeout_seconds  INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 1,
    attempt          INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT    NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    exit_code        INTEGER,
    reason           TEXT    NOT NULL DEFAULT '',
    message          TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);
CREATE INDEX jobs_state_seq ON jobs (state, seq);

CREATE TABLE job_attempts (
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    worker_id   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    exit_code   INTEGER,
    reason      TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT '',
    leased_at   INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (job_id, number)
);
CREATE INDEX job_attempts_worker_state ON job_attempts (worker_id, state);

CREATE TABLE job_log_chunks (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    stream  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    time    INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    UNIQUE (job_id, attempt, stream, seq)
);
CREATE INDEX job_log_chunks_job_id ON job_log_chunks (job_id, id);

CREATE TABLE workers (
    id             TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL DEFAULT '',
    hostname       TEXT    NOT NULL DEFAULT '',
    version        TEXT    NOT NULL DEFAULT '',
    executor       TEXT    NOT NULL DEFAULT '',
    slots          INTEGER NOT NULL DEFAULT 0,
    state          TEXT    NOT NULL DEFAULT 'active',
    registered_at  INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL
);

-- +goose Down
DROP TABLE workers;
DROP TABLE job_log_chunks;
DROP TABLE job_attempts;
DROP TABLE jobs;
