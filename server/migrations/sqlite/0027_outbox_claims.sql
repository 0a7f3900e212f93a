-- The claim under which a worker holds a callback or an e-mail of the
-- outboxes: its node's name and an id of its own, new at every claim. Only
-- that claim sends the row and records the attempt: one whose lease lapsed
-- and which another claim took over (another node's, or a later one of the
-- same node) sends and records nothing.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE mail_outbox ADD COLUMN claimed_by TEXT;
