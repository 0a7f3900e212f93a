-- Users and what they may do: lockout counters on users, user groups,
-- web UI sessions (token and CSRF token stored hashed), the audit log, API
-- key scopes and IP allow-lists, permissions on recipients (per user or
-- user group) and users' own phone numbers verified by a one-time code.
-- Ids are UUIDv7 text; times are microseconds since the epoch.

ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until BIGINT;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;

CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE user_group_members (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user ON user_group_members (user_id);

CREATE TABLE ui_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    ip TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT,
    username TEXT NOT NULL,
    api_key_id TEXT,
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    status BIGINT NOT NULL,
    ip TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_account_at ON audit_log (account_id, at);

ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,send,manage';
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';

CREATE TABLE send_permissions (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    any_number BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id)
);

CREATE TABLE send_permission_targets (
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, target_kind, target),
    FOREIGN KEY (subject_kind, subject_id) REFERENCES send_permissions (subject_kind, subject_id) ON DELETE CASCADE
);

CREATE TABLE user_numbers (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    code_hash TEXT,
    code_expires_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    verified_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, phone)
);
