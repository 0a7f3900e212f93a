-- The account's webhook for every received message and opt change, once
-- matched (NULL: none).
ALTER TABLE accounts ADD COLUMN inbound_url TEXT;
