-- A worker id belongs to one running process: each worker process sends a
-- nonce of its own (its instance), and the server refuses another
-- instance's registration while the holder is alive. NULL is a worker from
-- before instances (or a row from before this migration): nothing to
-- compare, so the next instance heard from takes it.

-- +goose Up
ALTER TABLE workers ADD COLUMN instance text;

-- +goose Down
ALTER TABLE workers DROP COLUMN instance;
