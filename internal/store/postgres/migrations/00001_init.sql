-- The first schema of RGrid on PostgreSQL.

-- +goose Up
CREATE TABLE jobs (
    id               text             PRIMARY KEY,
    seq              bigint           GENERATED ALWAYS AS IDENTITY UNIQUE,
    state            text             NOT NULL,
    file_name        text             NOT NULL,
    script           bytea            NOT NULL,
    script_size      bigint           NOT NULL,
    args             jsonb            NOT NULL DEFAULT '[]',
    runtime          text             NOT NULL,
    env              jsonb            NOT NULL DEFAULT '{}',
    memory_bytes     bigint           NOT NULL DEFAULT 0,
    cpus             double precision NOT NULL DEFAULT 0,
    pids             bigint           NOT NULL DEFAULT 0,
    timeout_seconds  bigint           NOT NULL DEFAULT 0,
    max_attempts     integer          NOT NULL DEFAULT 1,
    attempt          integer          NOT NULL DEFAULT 0,
    worker_id        text             NOT NULL DEFAULT '',
    cancel_requested boolean          NOT NULL DEFAULT false,
    exit_code        integer,
    reason           text             NOT NULL DEFAULT '',
    message          text             NOT NULL DEFAULT '',
    created_at       timestamptz      NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz
);
CREATE INDEX jobs_state_seq ON jobs (state, seq);

CREATE TABLE job_attempts (
    job_id      text        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number      integer     NOT NULL,
    worker_id   text        NOT NULL,
    state       text        NOT NULL,
    exit_code   integer,
    reason      text        NOT NULL DEFAULT '',
    message     text        NOT NULL DEFAULT '',
    leased_at   timestamptz NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (job_id, number)
);
CREATE INDEX job_attempts_worker_state ON job_attempts (worker_id, state);

CREATE TABLE job_log_chunks (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  text        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer     NOT NULL,
    stream  text        NOT NULL,
    seq     bigint      NOT NULL,
    time    timestamptz NOT NULL,
    data    bytea       NOT NULL,
    UNIQUE (job_id, attempt, stream, seq)
);
CREATE INDEX job_log_chunks_job_id ON job_log_chunks (job_id, id);

CREATE TABLE workers (
    id             text        PRIMARY KEY,
    name           text        NOT NULL DEFAULT '',
    hostname       text        NOT NULL DEFAULT '',
    version        text        NOT NULL DEFAULT '',
    executor       text        NOT NULL DEFAULT '',
    slots          integer     NOT NULL DEFAULT 0,
    state          text        NOT NULL DEFAULT 'active',
    registered_at  timestamptz NOT NULL,
    last_heartbeat timestamptz NOT NULL
);

-- +goose Down
DROP TABLE workers;
DROP TABLE job_log_chunks;
DROP TABLE job_attempts;
DROP TABLE jobs;
