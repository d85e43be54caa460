-- The request that caused an event: its id (the caller's, or one the node
-- made) and who the caller said it was, so that an event on RabbitMQ or a
-- mail can be traced back to the request in the node's logs. Rows written
-- before this migration have neither.
ALTER TABLE outbox
  ADD COLUMN request_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN caller VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL;
