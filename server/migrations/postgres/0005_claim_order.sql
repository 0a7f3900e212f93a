-- Claims take due messages in (next_attempt_at, id) order; with id in the
-- index they read the first rows in order instead of sorting every due one.
DROP INDEX messages_queued;
CREATE INDEX messages_queued ON messages (next_attempt_at, id) WHERE status = 'queued';
