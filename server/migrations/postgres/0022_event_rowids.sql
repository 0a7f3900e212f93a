-- SQLite only (its history table loses AUTOINCREMENT); PostgreSQL's
-- BIGSERIAL needs no change.
SELECT 1;
