-- History rows keep their ids but lose AUTOINCREMENT: with it, every insert
-- (four per message on the hot path) also read and rewrote the table's row
-- in sqlite_sequence. History rows are never deleted, so a plain rowid
-- (the largest plus one) still grows with every row and keeps their order.
CREATE TABLE message_events_new (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT
);
INSERT INTO message_events_new (id, message_id, status, at, detail)
    SELECT id, message_id, status, at, detail FROM message_events ORDER BY id;
DROP TABLE message_events;
ALTER TABLE message_events_new RENAME TO message_events;
CREATE INDEX message_events_message ON message_events (message_id, id);
