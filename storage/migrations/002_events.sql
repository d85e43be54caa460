-- Events, password resets and handler idempotency.
--
-- outbox: events written in the transaction of the change that caused them;
-- the relay reads pending rows by seq and deletes them once delivered. Times
-- are unix milliseconds from the server's clock, one clock for every node.
-- A row with dead_at set was given up on: it is neither fetched nor pending.
-- failed_at_ms orders the rows' last errors for the status ("last error").
-- data is JSON text; MariaDB's JSON type is LONGTEXT with this same check.
CREATE TABLE outbox (
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  topic VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event_key VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  source VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  data MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at_ms BIGINT NOT NULL,
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  last_error TEXT CHARACTER SET utf8mb4 NULL,
  failed_at_ms BIGINT NULL,
  dead_at BIGINT NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY outbox_event_id (event_id),
  KEY outbox_pending (dead_at, seq),
  KEY outbox_failed (failed_at_ms),
  CONSTRAINT outbox_data_json CHECK (JSON_VALID(data))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Password reset tokens: only the SHA-256 of a token (lower-case hex) is
-- stored. Times are unix seconds like users'. A token is usable while
-- used_at and voided_at are NULL and expires_at is in the future.
CREATE TABLE password_resets (
  token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT NULL,
  voided_at BIGINT NULL,
  PRIMARY KEY (token_hash),
  KEY password_resets_user (user_id),
  CONSTRAINT password_resets_user_fk FOREIGN KEY (user_id)
    REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per reset request of the last hour, for the per-email rate limit.
-- email_hash is the SHA-256 (lower-case hex) of the lower-cased email, so
-- that the table does not collect the addresses people typed. requested_at
-- is unix seconds; older rows are pruned by later requests.
CREATE TABLE reset_requests (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  email_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  requested_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  KEY reset_requests_email (email_hash, requested_at),
  KEY reset_requests_time (requested_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Events a handler finished (e.g. the mailer), so that a redelivered event
-- does no second piece of work. processed_at is unix seconds.
CREATE TABLE processed_events (
  handler VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  processed_at BIGINT NOT NULL,
  PRIMARY KEY (handler, event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
