-- Full-text search of the message history (storage/search.rs): one row per
-- message with its folded words as a tsvector (written as a literal by
-- Kurier, so no text-search configuration or extension is involved) and a
-- GIN index. Existing messages are indexed by the migration runner right
-- after this. message_id has the ids' collation "C" like messages.id: with
-- another collation the planner cannot walk both primary keys in step and
-- sorts every match of a common word instead.
CREATE TABLE message_search (
    message_id TEXT COLLATE "C" PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    doc TSVECTOR NOT NULL
);
CREATE INDEX message_search_doc ON message_search USING GIN (doc);
