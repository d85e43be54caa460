-- Accounts. Timestamps are unix seconds (BIGINT), the same unit as
-- herald::user's fields: no time-zone conversion between server and wire.
--
-- email uses utf8mb4_bin: the caller stores it lower-cased, so uniqueness and
-- lookups must compare exactly what was stored. The server default
-- (utf8mb4_general_ci) would treat 'Ä@x.org' and 'a@x.org' as one address and
-- let two rows the application considers distinct collide, or a lookup match
-- an address the caller never wrote. utf8mb4_bin still ignores trailing
-- spaces (PAD SPACE), which the caller's email syntax check never lets
-- through; utf8mb4_nopad_bin would avoid that too but exists only in MariaDB.
CREATE TABLE users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  role VARCHAR(16) NOT NULL DEFAULT 'user',
  password_hash VARCHAR(255) NOT NULL,
  token_version INT UNSIGNED NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
