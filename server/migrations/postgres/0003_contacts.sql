-- The address book: contacts per account, typed custom fields and their
-- values, groups and their members, #tag subscriptions; import jobs with
-- their per-row error reports. Deleting a contact removes its values,
-- memberships and tags; deleting a group removes memberships only.

CREATE TABLE contacts (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    phone TEXT COLLATE "C" NOT NULL,
    name TEXT,
    email TEXT,
    language TEXT,
    time_zone TEXT,
    external_id TEXT,
    notes TEXT,
    -- Folded (lower case, no diacritics) name and e-mail: what `q` matches.
    search TEXT COLLATE "C" NOT NULL,
    opted_out_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contacts_phone ON contacts (account_id, phone);
CREATE UNIQUE INDEX contacts_external_id ON contacts (account_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX contacts_account ON contacts (account_id, id);

CREATE TABLE contact_fields (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- Values in their canonical text form (numbers in plain decimal, dates
-- YYYY-MM-DD, booleans true/false), so equality filters compare text.
CREATE TABLE contact_values (
    contact_id TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    field_id TEXT COLLATE "C" NOT NULL REFERENCES contact_fields (id) ON DELETE CASCADE,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (contact_id, field_id)
);
CREATE INDEX contact_values_lookup ON contact_values (field_id, value, contact_id);

CREATE TABLE contact_groups (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    -- The name folded to lower case: names are unique case-insensitively.
    name_key TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contact_groups_name ON contact_groups (account_id, name_key);

CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES contact_groups (id) ON DELETE CASCADE,
    contact_id TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, contact_id)
);
CREATE INDEX group_members_contact ON group_members (contact_id, group_id);

CREATE TABLE contact_tags (
    contact_id TEXT COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag, contact_id);

CREATE TABLE imports (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    status TEXT NOT NULL,
    format TEXT,
    encoding TEXT,
    delimiter TEXT,
    -- JSON: how each column was read.
    columns TEXT,
    -- JSON list of the groups every imported contact joins.
    groups TEXT NOT NULL,
    rows_total BIGINT,
    rows_read BIGINT NOT NULL DEFAULT 0,
    rows_created BIGINT NOT NULL DEFAULT 0,
    rows_updated BIGINT NOT NULL DEFAULT 0,
    rows_failed BIGINT NOT NULL DEFAULT 0,
    errors_stored BIGINT NOT NULL DEFAULT 0,
    error_code TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX imports_account ON imports (account_id, id);

CREATE TABLE import_errors (
    import_id TEXT COLLATE "C" NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    row_number BIGINT NOT NULL,
    column_name TEXT,
    value TEXT,
    reason TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);
