-- Accounts, users and API keys; the durable outbound queue with its status
-- history; idempotency keys; signed status callbacks and their attempts.
-- Ids are UUIDv7 text (time-ordered); times are microseconds since the epoch.

CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    webhook_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    user_id TEXT COLLATE "C" REFERENCES users (id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE messages (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    to_number TEXT NOT NULL,
    from_addr TEXT,
    body TEXT NOT NULL,
    encoding TEXT NOT NULL,
    segments BIGINT NOT NULL,
    callback_url TEXT,
    connector TEXT,
    smsc_id TEXT COLLATE "C",
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    lease_until BIGINT,
    error TEXT,
    send_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX messages_queued ON messages (next_attempt_at) WHERE status = 'queued';
CREATE INDEX messages_scheduled ON messages (next_attempt_at) WHERE status = 'scheduled';
CREATE INDEX messages_sending ON messages (claimed_by, lease_until) WHERE status = 'sending';
CREATE INDEX messages_sent ON messages (next_attempt_at) WHERE status = 'sent';
CREATE INDEX messages_smsc_id ON messages (smsc_id, connector) WHERE smsc_id IS NOT NULL;
CREATE INDEX messages_account ON messages (account_id, id);
CREATE INDEX messages_account_to ON messages (account_id, to_number, id);

CREATE TABLE message_tags (
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (message_id, tag)
);
CREATE INDEX message_tags_tag ON message_tags (tag, message_id);

CREATE TABLE message_events (
    id BIGSERIAL PRIMARY KEY,
    message_id TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT
);
CREATE INDEX message_events_message ON message_events (message_id, id);

-- Receipts that arrived before the submit answer they belong to.
CREATE TABLE orphan_receipts (
    connector TEXT NOT NULL,
    smsc_id TEXT COLLATE "C" NOT NULL,
    status TEXT,
    detail TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (connector, smsc_id)
);

CREATE TABLE idempotency_keys (
    account_id TEXT COLLATE "C" NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, idem_key)
);

CREATE TABLE webhook_deliveries (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C",
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id);

CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id TEXT COLLATE "C" NOT NULL,
    at BIGINT NOT NULL,
    response_status BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
