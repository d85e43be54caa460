-- Idempotency records are pruned by age (see storage/outbox.cpp,
-- mark_processed): the oldest first, found through this index.
ALTER TABLE processed_events ADD KEY processed_events_time (processed_at);
