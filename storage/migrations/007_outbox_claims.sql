-- Several relays share the outbox (every node with the mailer or bridge role
-- runs one). A relay claims the rows it is about to deliver: claimed_by is
-- its instance id (random, new at every start) and lease_until_ms the
-- server's time in unix milliseconds until which the claim holds. A live
-- relay renews the leases of its rows at every poll; a dead relay's rows are
-- free again when their lease ran out. Rows are claimed with SELECT ... FOR
-- UPDATE SKIP LOCKED (MariaDB 10.6+), and a row only when every earlier
-- undelivered row of its key is the claimer's own: order per key holds
-- across relays. NULL: nobody holds the row.
ALTER TABLE outbox
  ADD COLUMN claimed_by VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN lease_until_ms BIGINT NULL,
  ADD KEY outbox_claimed (claimed_by),
  ADD KEY outbox_key (event_key, seq);
