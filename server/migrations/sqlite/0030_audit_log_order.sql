-- The audit log is paged newest first by id (UUIDv7, the cursor): an index
-- on (account_id, id) reads a page in order, where the one on
-- (account_id, at) made SQLite read and sort the account's whole log.
CREATE INDEX audit_log_account_id ON audit_log (account_id, id);
