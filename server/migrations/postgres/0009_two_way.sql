-- Two-way messaging: the numbers and short codes an account receives on,
-- keywords on them with their actions, the queue of received messages
-- waiting to be matched and what matching decided, the opt-out list of
-- raw numbers with every opt change, and the auto-reply rate limit.

CREATE TABLE numbers (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    -- E.164 (+48600100200) or a short code's digits (7100).
    number TEXT COLLATE "C" NOT NULL,
    -- dedicated: every message to it belongs to the account;
    -- shared: accounts share it, each owning its keywords.
    kind TEXT NOT NULL,
    -- JSON list of connector names it is reachable through; [] = any.
    connectors TEXT NOT NULL,
    -- JSON list of actions for messages that match no keyword.
    default_actions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX numbers_account_number ON numbers (account_id, number);
CREATE INDEX numbers_number ON numbers (number, created_at);

CREATE TABLE keywords (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    number_id TEXT COLLATE "C" NOT NULL REFERENCES numbers (id) ON DELETE CASCADE,
    -- The number's text, so conflicts across accounts on a shared number
    -- are one lookup.
    number TEXT COLLATE "C" NOT NULL,
    keyword TEXT NOT NULL,
    -- Folded: lower case, no diacritics, single spaces.
    keyword_key TEXT NOT NULL,
    -- exact, base, phrase, remove
    match_type TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    -- JSON list of actions.
    actions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX keywords_number ON keywords (number, keyword_key);
CREATE INDEX keywords_account ON keywords (account_id, id);

-- Received messages waiting to be matched (written in the recorder's
-- transaction; a worker claims them under a lease).
CREATE TABLE inbound_queue (
    message_id TEXT COLLATE "C" PRIMARY KEY,
    due_at BIGINT NOT NULL,
    lease_until BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX inbound_queue_due ON inbound_queue (due_at);

-- What matching decided for each received message, and what it did.
CREATE TABLE inbound_matches (
    message_id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    number_id TEXT,
    keyword_id TEXT,
    -- keyword, default, opt_out, opt_in, help, none
    kind TEXT NOT NULL,
    -- JSON list of what each action did.
    actions TEXT NOT NULL,
    matched_at BIGINT NOT NULL
);
CREATE INDEX inbound_matches_keyword ON inbound_matches (keyword_id, matched_at) WHERE keyword_id IS NOT NULL;
CREATE INDEX inbound_matches_account ON inbound_matches (account_id, matched_at);

-- Numbers that opted out of an account's marketing, contact or not.
CREATE TABLE opt_outs (
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    phone TEXT COLLATE "C" NOT NULL,
    opted_out_at BIGINT NOT NULL,
    message_id TEXT,
    PRIMARY KEY (account_id, phone)
);

-- Every opt change with its source (the message that asked, or the API).
CREATE TABLE opt_events (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    -- out, in
    change TEXT NOT NULL,
    -- keyword, api
    source TEXT NOT NULL,
    message_id TEXT,
    word TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX opt_events_phone ON opt_events (account_id, phone, id);

-- Auto-replies sent to a number in the current window (storm guard).
CREATE TABLE auto_reply_counts (
    account_id TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    PRIMARY KEY (account_id, phone)
);

-- The account's HELP answer and its own opt-out words (JSON list).
ALTER TABLE accounts ADD COLUMN help_text TEXT;
ALTER TABLE accounts ADD COLUMN opt_out_words TEXT;

-- A long inbound message stored without some of its parts after the
-- reassembly timeout.
ALTER TABLE messages ADD COLUMN incomplete BIGINT NOT NULL DEFAULT 0;
