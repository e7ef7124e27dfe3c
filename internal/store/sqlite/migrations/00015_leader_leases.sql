-- Leases of the server's singleton loops (the reaper, blob retention, the
-- autoscaler): one row per loop, held by one server replica until it
-- expires. The holder renews it well before then; another replica takes it
-- once it has expired (its holder died or lost the database). A new table:
-- replicas of the previous schema run on beside it (each then runs its
-- loops itself, as before).
--
-- It applies after 00013 (00014 is another change's).
--
-- rgrid:compatible marks it so (see internal/database/compat.go):
-- rgrid:compatible

-- +goose Up
CREATE TABLE leader_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE leader_leases;
