-- Per-sender counts of received messages whose SMS and e-mail forwards
-- and notifications went out, per window (inbound.forward_limit): a
-- storm from one sender does not become a storm to staff.
CREATE TABLE forward_counts (
    account_id TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (account_id, phone)
);

-- Every attempt at an e-mail of the outbox, like webhook_attempts.
CREATE TABLE mail_attempts (
    id BIGSERIAL PRIMARY KEY,
    email_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    -- sent, retry, failed
    result TEXT NOT NULL,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX mail_attempts_email ON mail_attempts (email_id);

-- A re-sent e-mail is retried until this time (NULL: created_at plus
-- smtp.retry_window_secs).
ALTER TABLE mail_outbox ADD COLUMN retry_until BIGINT;
