-- Notifications for other systems: event types with a template per channel
-- and language, subscribers' preferences (channels, extra addresses,
-- delivery window), the balance each subscriber last reported, every event
-- received, and each delivery it made (one per channel and address).

CREATE TABLE notification_settings (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    -- A reported balance below this (minor units) raises balance_low.
    low_balance_threshold BIGINT,
    -- A forecast of this many days or fewer raises funds_run_out.
    runout_days BIGINT NOT NULL DEFAULT 3,
    default_language TEXT NOT NULL DEFAULT 'en',
    updated_at BIGINT NOT NULL
);

CREATE TABLE notification_types (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    type_key TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Urgent events ignore delivery windows.
    urgent BIGINT NOT NULL DEFAULT 0,
    built_in BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, type_key)
);

CREATE TABLE notification_templates (
    type_id TEXT NOT NULL REFERENCES notification_types (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    html TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (type_id, channel, language)
);

-- Per subscriber (contact) and event type; type_key '*' covers every type,
-- contact_id '*' is the account's default.
CREATE TABLE notification_preferences (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    contact_id TEXT NOT NULL,
    type_key TEXT NOT NULL,
    -- JSON list of channels: ["sms"], ["email"], ["sms", "email"], [] for none.
    channels TEXT NOT NULL,
    extra_phones TEXT NOT NULL,
    extra_emails TEXT NOT NULL,
    -- When messages may go out, minutes after local midnight; NULL: any time.
    window_start BIGINT,
    window_end BIGINT,
    time_zone TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, contact_id, type_key)
);

CREATE TABLE notification_preference_changes (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    source TEXT NOT NULL,
    remote_addr TEXT,
    before_json TEXT,
    after_json TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX notification_preference_changes_contact ON notification_preference_changes (contact_id, at);

CREATE TABLE subscriber_balances (
    contact_id TEXT PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    balance BIGINT NOT NULL,
    daily_charge BIGINT,
    currency TEXT,
    reported_at BIGINT NOT NULL,
    -- 1 while below the threshold / within the run-out horizon and already
    -- notified: one notification per crossing.
    low_alerted BIGINT NOT NULL DEFAULT 0,
    runout_alerted BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    type_key TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    idem_key TEXT,
    data TEXT NOT NULL,
    -- 1 when Kurier raised it itself (balance_low, funds_run_out).
    derived BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX notifications_idem ON notifications (account_id, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX notifications_account ON notifications (account_id, id);

CREATE TABLE notification_deliveries (
    id TEXT PRIMARY KEY,
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    account_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    language TEXT,
    -- waiting_window, queued, sent, failed, bounced, suppressed
    status TEXT NOT NULL,
    reason TEXT,
    subject TEXT,
    body TEXT NOT NULL,
    html TEXT,
    -- JSON list of {filename, content_type, base64}.
    attachments TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    message_id TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (due_at) WHERE status IN ('waiting_window', 'queued');
CREATE INDEX notification_deliveries_notification ON notification_deliveries (notification_id);
CREATE INDEX notification_deliveries_account ON notification_deliveries (account_id, created_at);
