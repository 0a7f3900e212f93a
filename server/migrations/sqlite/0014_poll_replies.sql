-- What a poll answers a voter, by outcome: JSON object with optional
-- "counted", "duplicate", "closed" and "invalid" texts; NULL: no answers.
ALTER TABLE polls ADD COLUMN replies TEXT;
-- A vote's text as received, for the export.
ALTER TABLE poll_votes ADD COLUMN body TEXT;
