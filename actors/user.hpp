// The user actor: creates, reads, changes and authenticates accounts. It owns
// no blocking work: hashing goes to the hasher pool, I/O to storage. Who may
// call it: see messages/user_actor.hpp.
#pragma once

#include <chrono>
#include <string>

#include <caf/typed_event_based_actor.hpp>

#include "actors/account_policy.hpp"
#include "actors/open_requests.hpp"
#include "messages/event_actors.hpp"
#include "messages/hasher_actor.hpp"
#include "messages/storage_actor.hpp"
#include "messages/token_actor.hpp"
#include "messages/user_actor.hpp"

namespace herald {

struct user_settings {
  password_policy passwords;
  /// A hash of a random password with the current parameters. Logins for an
  /// unknown email verify against it, so they cost the same as known ones.
  std::string dummy_hash;
  /// Time allowed for storage and hasher replies.
  std::chrono::seconds timeout{30};
  /// At a shutdown, how long requests under way may take to finish.
  std::chrono::milliseconds drain_grace{10000};
};

struct user_state {
  static inline const char* name = "user";
  user_settings settings;
  storage_actor store;
  hasher_actor hasher;
  /// Told about token version changes so revocation is immediate on this
  /// node; may be invalid when no token service runs here.
  token_actor tokens;
  /// Woken after each change so its event goes out at once; may be invalid.
  outbox_relay_actor relay;
  /// Requests taken and not yet answered (drained at a shutdown).
  open_requests requests;
};

user_actor::behavior_type
user_service(user_actor::stateful_pointer<user_state> self,
             user_settings settings, storage_actor store, hasher_actor hasher,
             token_actor tokens, outbox_relay_actor relay);

} // namespace herald
