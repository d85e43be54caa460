// The one error category of herald. Handlers answer with these codes and a
// context message that says what was wrong; nothing throws across actors.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace herald {

enum class ec : uint8_t {
  /// Reserved by CAF for "no error".
  none = 0,
  /// The addressed user, token or record does not exist.
  not_found,
  /// The request collides with existing state (e.g. an email in use).
  conflict,
  /// The request is malformed or violates a policy (field length, syntax).
  invalid_argument,
  /// Credentials or token did not prove who the caller is.
  unauthenticated,
  /// The caller is known but not allowed to do this.
  forbidden,
  /// A token or link is past its lifetime.
  expired,
  /// Too many requests in a window.
  rate_limited,
  /// A dependency (database, broker, mail server) cannot be reached.
  unavailable,
  /// A bug or an invariant broken on our side; the message says which.
  internal,
  /// A single-use token (password reset) was used already.
  already_used,
  /// A token was voided before its use (e.g. by a newer successful reset).
  revoked,
  /// A peer refused for good (e.g. SMTP 5xx): retrying will not help.
  rejected,
  /// A peer refused this one item for now (SMTP 4xx for an address, a full
  /// queue that nacks): try it again later; it says nothing about the rest,
  /// and a wait for it is no failure of the item.
  deferred,
};

/// Returns the code's name, e.g. "not_found".
const char* to_string(ec code);

/// Parses a code name back; returns ec::none for unknown names.
ec ec_from_string(const std::string& name);

/// Renders a herald error as "code: context text" (context text only when the
/// error carries a string), used for CLI output and logs.
std::string render(const caf::error& err);

/// The text of an error without its code ("no user with id 4"), or
/// render() for an error that carries no text.
std::string message_of(const caf::error& err);

/// Keeps the code of a herald error (other categories become `internal`) and
/// puts `what` in front of its text: "what: original text".
caf::error annotate(const caf::error& err, const std::string& what);

/// What a service answers when a component it asked failed: herald errors
/// (not_found, unavailable, ...) pass on as they are; anything else (a
/// timeout, an actor that is gone) becomes `unavailable`, "<what> did not
/// answer (<reason>)", so that a caller never mistakes it for its own
/// request having been refused unseen.
caf::error dependency_failure(const caf::error& err, const std::string& what);

/// Registers the error category's renderer with CAF.
void add_error_category(caf::actor_system_config& cfg);

} // namespace herald

CAF_ERROR_CODE_ENUM(herald::ec, "herald")
