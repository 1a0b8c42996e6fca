-- 0002_checkpoint_log.sql
-- The log a checkpoint counts in: the creation time of CHAT_EVT (RFC 3339,
-- UTC, nanoseconds), which changes whenever the stream is created again. A
-- view refuses a checkpoint of another log instead of skipping this log's
-- facts up to it. NULL: written before logs were recorded.
ALTER TABLE projection_checkpoints ADD COLUMN log_id text;
