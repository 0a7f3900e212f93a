-- Parts of long outbound messages, each with the SMSC's id and its own
-- delivery state; and parts of long inbound messages awaiting the rest.

CREATE TABLE message_parts (
    message_id TEXT NOT NULL REFERENCES messages (id),
    seq BIGINT NOT NULL,
    connector TEXT NOT NULL,
    smsc_id TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, seq)
);
CREATE INDEX message_parts_smsc_id ON message_parts (smsc_id, connector);

CREATE TABLE inbound_parts (
    connector TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    reference BIGINT NOT NULL,
    total BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (connector, from_addr, to_addr, reference, seq)
);
