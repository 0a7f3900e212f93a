-- Campaigns: message templates, the sender ids an account may use, the
-- account's quiet hours, campaigns with their audiences and schedules, and
-- each run of a campaign with its fan-out progress. Messages remember the
-- campaign and run that made them.

CREATE TABLE templates (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    -- The name folded to lower case: names are unique case-insensitively.
    name_key TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX templates_name ON templates (account_id, name_key);

CREATE TABLE sender_ids (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    sender TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, sender)
);

-- Quiet hours: no campaign message is sent between quiet_start and
-- quiet_end (minutes after local midnight) in the contact's time zone, or
-- the account's when the contact has none. NULL: no quiet hours.
ALTER TABLE accounts ADD COLUMN quiet_start BIGINT;
ALTER TABLE accounts ADD COLUMN quiet_end BIGINT;
ALTER TABLE accounts ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    -- draft, active, paused, completed, canceled
    state TEXT NOT NULL,
    sender TEXT,
    body TEXT,
    template_id TEXT REFERENCES templates (id),
    -- JSON object passed to the template as `data`.
    data TEXT NOT NULL,
    -- JSON: {"groups": [...], "tags": [...], "contacts": [...], "exclude_groups": [...]};
    -- raw numbers are in campaign_numbers.
    audience TEXT NOT NULL,
    tags TEXT NOT NULL,
    callback_url TEXT,
    send_at BIGINT,
    rrule TEXT,
    time_zone TEXT,
    -- When the next run is due; NULL when none is.
    next_run_at BIGINT,
    -- Messages per second at most; NULL: as fast as the connectors take them.
    throughput BIGINT,
    -- Bypasses quiet hours.
    urgent BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX campaigns_account ON campaigns (account_id, id);
CREATE INDEX campaigns_due ON campaigns (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE campaign_numbers (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    PRIMARY KEY (campaign_id, phone)
);

CREATE TABLE campaign_runs (
    id TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    account_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    -- fanning_out, sending, paused, completed, canceled
    status TEXT NOT NULL,
    -- 1 once every recipient has its message.
    fanned_out BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    -- The last phone number given a message: fan-out resumes after it.
    cursor TEXT,
    recipients BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    claimed_by TEXT,
    lease_until BIGINT,
    started_at BIGINT,
    finished_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (campaign_id, seq)
);
CREATE INDEX campaign_runs_open ON campaign_runs (status, lease_until) WHERE status IN ('fanning_out', 'sending');

-- Recipients a run could not send to (a template that failed for them).
CREATE TABLE campaign_run_errors (
    run_id TEXT NOT NULL REFERENCES campaign_runs (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, phone)
);

ALTER TABLE messages ADD COLUMN campaign_id TEXT;
ALTER TABLE messages ADD COLUMN run_id TEXT;
CREATE INDEX messages_run ON messages (run_id, status) WHERE run_id IS NOT NULL;
CREATE INDEX messages_campaign ON messages (campaign_id, id) WHERE campaign_id IS NOT NULL;
