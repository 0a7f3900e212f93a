-- Idempotency keys are kept for a day (IDEMPOTENCY_KEY_RETENTION_SECS):
-- the dispatcher's maintenance deletes older ones by their age.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
