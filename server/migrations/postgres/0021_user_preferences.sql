-- A user's own language and time zone for the web UI (My profile); NULL:
-- the browser's language and UTC.
ALTER TABLE users ADD COLUMN language TEXT;
ALTER TABLE users ADD COLUMN time_zone TEXT;
