-- Leases on the sessions (binds) of each SMPP connector: a node opens
-- session `slot` of a connector only while it holds that slot's lease, so
-- several nodes on one database never open more sessions than configured.
-- Times are microseconds since the epoch.

CREATE TABLE bind_leases (
    connector TEXT NOT NULL,
    slot BIGINT NOT NULL,
    node TEXT NOT NULL,
    held_until BIGINT NOT NULL,
    PRIMARY KEY (connector, slot)
);
