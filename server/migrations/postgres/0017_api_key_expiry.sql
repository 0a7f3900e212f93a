-- When an API key stops working (microseconds since the epoch; NULL: never).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
