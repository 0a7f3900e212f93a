-- Replies routed back, conversations, polls and contests, e-mail forwards,
-- and the indexes the two-way reports read.

-- The account's pool of sender numbers: its dedicated numbers marked
-- in_pool. A campaign or message sent "with the pool" gives each
-- recipient the pool number least recently used for them.
ALTER TABLE numbers ADD COLUMN in_pool BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN sender_pool BIGINT NOT NULL DEFAULT 0;

-- (recipient, one of the account's numbers) -> the last message sent to
-- the recipient from that number: a reply to the number answers it.
CREATE TABLE reply_routes (
    account_id TEXT COLLATE "C" NOT NULL,
    recipient TEXT COLLATE "C" NOT NULL,
    number TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, recipient, number)
);

-- A received message that answers an earlier outbound one.
ALTER TABLE messages ADD COLUMN reply_to TEXT;
-- Conversation threads read a contact's received messages by sender;
-- reports read received messages by day.
CREATE INDEX messages_inbound_from ON messages (account_id, from_addr, id) WHERE direction = 'inbound';
CREATE INDEX messages_inbound_day ON messages (account_id, created_at) WHERE direction = 'inbound';

-- One row per phone that wrote to the account (or was answered from a
-- thread): the inbox of conversations, newest activity first.
CREATE TABLE conversations (
    account_id TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    last_message_id TEXT COLLATE "C" NOT NULL,
    last_at BIGINT NOT NULL,
    -- The account's number the phone last wrote to or was written from.
    number TEXT COLLATE "C",
    received BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, phone)
);
CREATE INDEX conversations_recent ON conversations (account_id, last_at);

-- Polls and contests.
CREATE TABLE polls (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    name_key TEXT COLLATE "C" NOT NULL,
    question TEXT NOT NULL,
    -- JSON list of {"key": "A", "text": "Pizza"}.
    answers TEXT NOT NULL,
    opens_at BIGINT,
    closes_at BIGINT,
    -- first: one vote per number; last: the last vote counts.
    vote_policy TEXT NOT NULL,
    -- A contest's correct answer key; NULL for a plain poll.
    correct_answer TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX polls_name ON polls (account_id, name_key);

-- Every vote received, counted or not (early, late, duplicate, replaced,
-- invalid), with the message it came in.
CREATE TABLE poll_votes (
    id TEXT COLLATE "C" PRIMARY KEY,
    poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    phone TEXT COLLATE "C" NOT NULL,
    -- The answer key, NULL when the text named none.
    answer TEXT COLLATE "C",
    message_id TEXT COLLATE "C" NOT NULL,
    voted_at BIGINT NOT NULL,
    -- counted, replaced, duplicate, early, late, invalid
    status TEXT NOT NULL,
    counted BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX poll_votes_counted ON poll_votes (poll_id, phone) WHERE counted = 1;
CREATE INDEX poll_votes_poll ON poll_votes (poll_id, id);

-- Contest draws: the seed makes the winners reproducible.
CREATE TABLE poll_draws (
    id TEXT COLLATE "C" PRIMARY KEY,
    poll_id TEXT COLLATE "C" NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    seed TEXT NOT NULL,
    entrants BIGINT NOT NULL,
    -- JSON list of phone numbers, in draw order.
    winners TEXT NOT NULL,
    drawn_at BIGINT NOT NULL
);
CREATE INDEX poll_draws_poll ON poll_draws (poll_id, drawn_at);

-- E-mails forwarding received messages or notifying people, sent by a
-- worker with retries.
CREATE TABLE mail_outbox (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    message_id TEXT COLLATE "C",
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- pending, sent, failed
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_message ON mail_outbox (message_id);

-- Callbacks are retried until this time (NULL: created_at plus
-- webhooks.retry_window_secs); a manual re-send moves it.
ALTER TABLE webhook_deliveries ADD COLUMN retry_until BIGINT;
