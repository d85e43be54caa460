// Password reset requests and tokens on one MySQL connection, each operation
// one transaction. A request is a row without a token, bound to the id of its
// password.reset_requested event; the mailer makes the token when it mails
// the link and stores only its SHA-256 here (issue_reset). No plain token is
// ever in a table or an event. Blocking.
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
/// one; for a known email, writes password.reset_requested from `origin`
/// and records the request (no token) under its event id with
/// `t.expires_at`. Requests for one email are
/// serialized by a server-wide named lock, so concurrent requests cannot
/// overrun the limit.
caf::error request_reset(mysql::connection& db, const event_origin& origin,
                         const reset_ticket& t);

/// Issues a token for the request of event `event_id` of user `user_id`:
/// with the user's row locked, voids the tokens issued for that request
/// before and stores `token_hash`; answers the request's expiry (unix
/// seconds). `not_found` without such a request or user, `revoked` if a reset
/// of the user's password voided the request, `expired`. If there is no
/// request but `legacy_hash` (the hash of the token an older herald put in
/// the event) names an unbound token of the user, that token's row becomes
/// the request (it keeps its expiry) and the token is voided.
caf::expected<int64_t> issue_reset(mysql::connection& db,
                                   const std::string& event_id,
                                   uint64_t user_id,
                                   const std::string& token_hash,
                                   const std::string& legacy_hash);

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
