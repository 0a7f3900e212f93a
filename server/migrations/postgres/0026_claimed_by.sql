-- The node whose worker claimed a notification delivery or a received
-- message waiting to be matched. Only that node completes it: a node whose
-- lease lapsed and was taken over by another sends and records nothing.
ALTER TABLE notification_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE inbound_queue ADD COLUMN claimed_by TEXT;
