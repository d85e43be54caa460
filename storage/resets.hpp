// Password reset tokens on one MySQL connection, each operation one
// transaction. Only a token's SHA-256 is stored; the plain token travels in
// the outbox payload of password.reset_requested alone. Blocking.
#pragma once

#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/event.hpp"
#include "messages/user.hpp"
#include "storage/mysql.hpp"
#include "storage/outbox.hpp"

namespace herald::storage {

/// Counts the requests for `t.email` in the last hour (`rate_limited` at
/// `t.max_per_hour`, whether or not the email is known) and records this
/// one; for a known email, stores `t.token_hash` with `t.expires_at` and
/// writes password.reset_requested from `origin`. Requests for one email are
/// serialized by a server-wide named lock, so concurrent requests cannot
/// overrun the limit.
caf::error request_reset(mysql::connection& db, const event_origin& origin,
                         const reset_ticket& t);

/// Succeeds if the token with this hash could be used now; else `not_found`,
/// `already_used`, `revoked` or `expired`. Changes nothing.
caf::error check_reset(mysql::connection& db, const std::string& token_hash);

/// Uses a token: with the user's row and the reset row locked, checks it as
/// `check_reset` does, stores `password_hash`, bumps the token version, marks
/// the token used, voids the user's other unused tokens and writes
/// user.password_changed from `origin`. Answers the account as changed.
caf::expected<account> confirm_reset(mysql::connection& db,
                                     const event_origin& origin,
                                     const std::string& token_hash,
                                     const std::string& password_hash);

} // namespace herald::storage
