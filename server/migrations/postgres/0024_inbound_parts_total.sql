-- A long message's parts are told apart by their total too: two messages
-- from one phone with the same 8-bit reference but a different number of
-- parts no longer share a group (nor collide on a part's sequence number).
ALTER TABLE inbound_parts DROP CONSTRAINT inbound_parts_pkey;
ALTER TABLE inbound_parts ADD PRIMARY KEY (connector, from_addr, to_addr, reference, total, seq);
