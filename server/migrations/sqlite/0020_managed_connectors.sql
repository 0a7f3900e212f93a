-- Connectors and routes the operator adds at run time (API, web UI),
-- beside those of the configuration file; every node runs them.
CREATE TABLE managed_connectors (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    -- The other settings as JSON, keyed as in the file's [[connectors]]
    -- table (the password too: the SMSC needs it in clear).
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE managed_routes (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    connector TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX managed_routes_unique ON managed_routes (prefix, connector);
