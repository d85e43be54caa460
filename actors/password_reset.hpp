// The password reset service: records reset requests (storage writes the
// password.reset_requested event, which carries no token) and sets a new
// password with a token from a mailed link. The mailer makes the token when
// it mails the link (actors/mailer.cpp): 32 random bytes (base64url), of
// which only the SHA-256 is stored. The answer to a request never tells
// whether the email belongs to a user.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <caf/typed_event_based_actor.hpp>

#include "actors/account_policy.hpp"
#include "actors/open_requests.hpp"
#include "messages/event_actors.hpp"
#include "messages/hasher_actor.hpp"
#include "messages/reset_actor.hpp"
#include "messages/storage_actor.hpp"
#include "messages/token_actor.hpp"

namespace herald {

struct reset_settings {
  /// Lifetime of a reset token.
  std::chrono::seconds ttl{std::chrono::minutes(15)};
  /// Requests allowed per email per hour.
  uint32_t max_per_hour = 5;
  password_policy passwords;
  /// Time allowed for storage and hasher replies.
  std::chrono::seconds timeout{30};
  /// Wall clock in Unix seconds; tests inject their own.
  std::function<int64_t()> now;
  /// At a shutdown, how long requests under way may take to finish.
  std::chrono::milliseconds drain_grace{10000};
};

/// A fresh reset token: base64url of 32 random bytes (43 characters), or an
/// empty string if the system has no randomness. Made by the mailer.
std::string make_reset_token();

/// SHA-256 of `token`, lower-case hex: what storage keeps.
std::string reset_token_hash(const std::string& token);

/// Checks the form of a token as it arrives from a link: 43 base64url
/// characters.
caf::error check_reset_token(const std::string& token);

struct password_reset_state {
  static inline const char* name = "password_reset";
  reset_settings settings;
  storage_actor store;
  hasher_actor hasher;
  /// Told about the new token version (may be invalid).
  token_actor tokens;
  /// Woken after a request so the mail goes out at once (may be invalid).
  outbox_relay_actor relay;
  /// Requests taken and not yet answered (drained at a shutdown).
  open_requests requests;
};

password_reset_actor::behavior_type password_reset(
    password_reset_actor::stateful_pointer<password_reset_state> self,
    reset_settings settings, storage_actor store, hasher_actor hasher,
    token_actor tokens, outbox_relay_actor relay);

} // namespace herald
