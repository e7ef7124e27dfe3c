-- The queue's own index: queued jobs only, in order. Claims read it from
-- the front whatever the planner's statistics say about the rest of the
-- table, and it stays as small as the queue, however many jobs have ended.

-- +goose Up
CREATE INDEX jobs_queued_seq ON jobs (seq) WHERE state = 'queued';

-- +goose Down
DROP INDEX jobs_queued_seq;
