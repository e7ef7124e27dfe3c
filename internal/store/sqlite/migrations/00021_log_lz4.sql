-- PostgreSQL's 00021 compresses log chunks with lz4; SQLite stores them
-- as they are, so this one changes nothing and keeps the two dialects'
-- numbers in step.
--
-- rgrid:compatible

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
