-- A message's history may begin on its own row: `trail` holds the
-- transitions of the straight path (stored, claimed, sent, receipt), one
-- line each, written by the same statement that changes the status.
-- NULL: the whole history is in `message_events` (every message stored
-- before this migration, and every message of the general path).
ALTER TABLE messages ADD COLUMN trail TEXT;
