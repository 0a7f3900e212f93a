-- Per-account defaults: transliterate texts to the GSM alphabet unless a
-- message says otherwise.
ALTER TABLE accounts ADD COLUMN transliterate BIGINT NOT NULL DEFAULT 0;
