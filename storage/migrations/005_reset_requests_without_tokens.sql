-- No plain reset token rests in the database or travels on the broker any
-- more: a reset request is a row of password_resets without a token
-- (token_hash NULL), bound to the id of its password.reset_requested event,
-- and the mailer stores the hash of the token it makes when it mails the link
-- as another row with that event id (voiding those it stored before for the
-- same event, so only the latest mailed link works). A NULL token_hash
-- matches no link: lookups compare it with a 64-digit hex hash.
ALTER TABLE password_resets
  DROP PRIMARY KEY,
  ADD COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT FIRST,
  ADD PRIMARY KEY (id),
  MODIFY token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN event_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL
    AFTER user_id,
  ADD UNIQUE KEY password_resets_token (token_hash),
  ADD KEY password_resets_event (event_id);
-- Events an older herald wrote carry the plain token. For every such event
-- still in the outbox: its request row, with the expiry and state of the
-- token's row...
INSERT INTO password_resets (user_id, event_id, created_at, expires_at,
                             used_at, voided_at)
  SELECT p.user_id, o.event_id, p.created_at, p.expires_at, p.used_at,
         p.voided_at
  FROM outbox o
  JOIN password_resets p
    ON p.token_hash = CONVERT(SHA2(JSON_VALUE(o.data, '$.token'), 256)
                              USING ascii) COLLATE ascii_bin
  WHERE o.topic = 'password.reset_requested';
-- ...the token's row bound to the event and voided (its token was in clear
-- in the outbox; the mailer mails a new one), unless the mailer already
-- mailed that token (a processed event whose row was not yet deleted): that
-- link stays the request's one working link...
UPDATE password_resets p
  JOIN outbox o
    ON p.token_hash = CONVERT(SHA2(JSON_VALUE(o.data, '$.token'), 256)
                              USING ascii) COLLATE ascii_bin
  SET p.event_id = o.event_id,
      p.voided_at = IF(EXISTS (SELECT 1 FROM processed_events e
                               WHERE e.handler = 'mailer'
                                 AND e.event_id = o.event_id),
                       p.voided_at,
                       COALESCE(p.voided_at, UNIX_TIMESTAMP()))
  WHERE o.topic = 'password.reset_requested';
-- ...and the token taken out of the event, dead rows included.
UPDATE outbox SET data = JSON_REMOVE(data, '$.token')
  WHERE topic = 'password.reset_requested'
    AND JSON_EXISTS(data, '$.token');
