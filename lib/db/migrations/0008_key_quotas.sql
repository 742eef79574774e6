-- Per-key quotas overriding the tier's: requests per minute and per UTC day (NULL: the tier's).
ALTER TABLE api_keys ADD COLUMN per_minute integer, ADD COLUMN per_day integer;
