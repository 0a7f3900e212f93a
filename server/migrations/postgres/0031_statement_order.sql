-- A statement file reads an account's charges of a month in pages ordered
-- by (created_at, message_id), each page after the last one's pair: this
-- index reads every page in order from where the last ended. It serves
-- what the one on (account_id, created_at) did, which it replaces.
CREATE INDEX message_charges_account_time ON message_charges (account_id, created_at, message_id);
DROP INDEX message_charges_account;
