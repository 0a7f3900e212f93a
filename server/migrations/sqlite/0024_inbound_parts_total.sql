-- A long message's parts are told apart by their total too: two messages
-- from one phone with the same 8-bit reference but a different number of
-- parts no longer share a group (nor collide on a part's sequence number).
CREATE TABLE inbound_parts_new (
    connector TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    reference BIGINT NOT NULL,
    total BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (connector, from_addr, to_addr, reference, total, seq)
);
INSERT INTO inbound_parts_new (connector, from_addr, to_addr, reference, total, seq, body, received_at)
    SELECT connector, from_addr, to_addr, reference, total, seq, body, received_at FROM inbound_parts;
DROP TABLE inbound_parts;
ALTER TABLE inbound_parts_new RENAME TO inbound_parts;
