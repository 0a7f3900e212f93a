-- Billing: tariffs with price lists by destination prefix, each account's
-- prepaid balance and its ledger, every billed message's charge, monthly
-- packages and their use, per-user quotas, low-balance alerts.
-- Money is integer minor units of the tariff's currency (cents for EUR).

CREATE TABLE tariffs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL,
    -- For receiving one inbound message.
    inbound_price BIGINT NOT NULL DEFAULT 0,
    -- Per inbound number the account holds, each month.
    number_monthly_fee BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Price per segment by destination prefix (digits, no '+'); longest wins.
CREATE TABLE tariff_prices (
    tariff_id TEXT NOT NULL REFERENCES tariffs (id) ON DELETE CASCADE,
    prefix TEXT NOT NULL,
    unit_price BIGINT NOT NULL,
    description TEXT,
    PRIMARY KEY (tariff_id, prefix)
);

-- An account without a row here (or without a tariff) is not charged.
CREATE TABLE account_billing (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    tariff_id TEXT REFERENCES tariffs (id),
    -- Available now; reserved money has already left it.
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    -- Taken for messages not yet submitted.
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    -- Charges that found no money (inbound messages, monthly fees); paid
    -- first by the next top-up.
    owed BIGINT NOT NULL DEFAULT 0 CHECK (owed >= 0),
    low_balance_threshold BIGINT,
    -- 1 once the balance fell below the threshold, until it rises above.
    low_balance_alerted BIGINT NOT NULL DEFAULT 0,
    alert_email TEXT,
    alert_phone TEXT,
    updated_at BIGINT NOT NULL
);

-- Money in and out that is not a message: top-ups, adjustments, fees.
CREATE TABLE billing_ledger (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    currency TEXT NOT NULL,
    note TEXT,
    -- The API key that made it, for top-ups and adjustments.
    created_by TEXT,
    -- A fee's period and what it was for, so it is charged once.
    period TEXT,
    reference TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX billing_ledger_account ON billing_ledger (account_id, created_at);
CREATE UNIQUE INDEX billing_ledger_fee ON billing_ledger (account_id, kind, period, reference)
    WHERE period IS NOT NULL;

-- What each billed message costs: reserved when queued, settled when
-- submitted, refunded when rejected, failed or canceled.
CREATE TABLE message_charges (
    message_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT,
    api_key_id TEXT,
    direction TEXT NOT NULL,
    country TEXT NOT NULL,
    prefix TEXT NOT NULL,
    segments BIGINT NOT NULL,
    -- Segments taken from the period's packages.
    included BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- The UTC month the message counts in, 'YYYY-MM'.
    period TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX message_charges_account ON message_charges (account_id, created_at);
CREATE INDEX message_charges_period ON message_charges (account_id, period);

CREATE TABLE packages (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL,
    -- Segments included each month.
    included_messages BIGINT NOT NULL,
    -- Per segment past the included ones.
    overage_price BIGINT NOT NULL,
    monthly_fee BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE account_packages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    package_id TEXT NOT NULL REFERENCES packages (id),
    -- First and (when canceled) last month, 'YYYY-MM'.
    first_period TEXT NOT NULL,
    last_period TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX account_packages_account ON account_packages (account_id);

-- Included segments used per account and month.
CREATE TABLE package_usage (
    account_id TEXT NOT NULL,
    period TEXT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (account_id, period)
);

-- Segments sent per user and month, for quotas.
CREATE TABLE user_usage (
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    period TEXT NOT NULL,
    segments BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id, period)
);

CREATE TABLE user_quotas (
    account_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    monthly_segments BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);

-- Low-balance alerts waiting to be sent by e-mail.
CREATE TABLE billing_alerts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    balance BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX billing_alerts_due ON billing_alerts (next_attempt_at) WHERE status = 'pending';
