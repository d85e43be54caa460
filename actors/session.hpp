// The session service: logs users in. It asks its own user service (one
// nobody outside the node can address) to check (email, password) and signs
// a token for the user that check answered, in the same request, only if
// the answer came from that user service: no message anywhere asks for a
// token for a user value the caller brings (who may call:
// messages/session_actor.hpp).
#pragma once

#include <caf/typed_event_based_actor.hpp>

#include "actors/open_requests.hpp"
#include "actors/token.hpp"
#include "messages/session_actor.hpp"
#include "messages/user_actor.hpp"

namespace herald {

struct session_state {
  static inline const char* name = "session";
  /// Keys (the first signs), policy (iss, aud, ttl) and clock.
  token_settings settings;
  user_actor users;
  /// Set if the settings failed `check`: every login answers it.
  caf::error misconfigured;
  open_requests requests;
};

/// Spawnable behavior: `sys.spawn(session_service, settings, users)`.
/// `users` is the session's own user service: it stops with the session.
session_actor::behavior_type
session_service(session_actor::stateful_pointer<session_state> self,
                token_settings settings, user_actor users);

} // namespace herald
