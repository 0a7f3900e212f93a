-- 1 for a message that goes also to a number that opted out (sent with
-- "transactional": true, answers to STOP and HELP): an opt-out cancels
-- the number's waiting messages except these.
ALTER TABLE messages ADD COLUMN transactional BIGINT NOT NULL DEFAULT 0;
