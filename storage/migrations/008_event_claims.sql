-- Several mailers may get the same event at the same instant (two relays
-- after a lease ran out, RabbitMQ redelivering to another consumer). A
-- handler claims the event's record before it works on it: a row with
-- claimed_by set (the handler instance's random id) and claimed_at_ms (the
-- server's time, unix milliseconds) is a claim, not a finished event; the
-- handler clears both once done (the row then means "processed", as every
-- row before this migration does). A claim older than the handler's claim
-- timeout belongs to a handler that died and is taken over. processed_at is
-- set at the claim too, so that pruning by age also removes claims that
-- were never finished.
ALTER TABLE processed_events
  ADD COLUMN claimed_by VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN claimed_at_ms BIGINT NULL;
