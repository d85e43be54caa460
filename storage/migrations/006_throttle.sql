-- Throttling counters shared by every node (failed logins, reset requests),
-- one row per counted key. The key itself (an email, an address) is never
-- stored: only its SHA-256. The rule of the key's last hit is kept with the
-- count so that taking an event back can recompute the block. Times are unix
-- seconds. A row is no longer needed at forget_at = max(last event + window,
-- blocked_until): its count would start over and it blocks nothing, so hits
-- delete such rows (a few at a time) and deleting them changes no answer.
CREATE TABLE throttle (
  key_hash BINARY(32) NOT NULL,
  events INT UNSIGNED NOT NULL,
  last_at BIGINT NOT NULL,
  blocked_until BIGINT NOT NULL,
  threshold INT UNSIGNED NOT NULL,
  increment_s BIGINT NOT NULL,
  max_wait_s BIGINT NOT NULL,
  window_s BIGINT NOT NULL,
  forget_at BIGINT NOT NULL,
  PRIMARY KEY (key_hash),
  KEY throttle_forget (forget_at)
) ENGINE=InnoDB;
