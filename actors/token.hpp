// The token actor: validates HS256 access tokens and revokes all tokens of a
// user by bumping the user's token version in storage. It signs nothing
// (actors/session.hpp logs in); who may call it: messages/token_actor.hpp.
//
// Validation is the signature and claim checks of actors/jwt.hpp, done
// inline, followed by a revocation check: the token's `ver` must not be
// lower than the account's current token_version. Versions are cached per
// user for `version_cache_ttl`, so a revocation made on another node takes
// effect here within that time; on this node, `revoke` and `forget` act at
// once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <unordered_map>

#include <caf/error.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/jwt.hpp"
#include "actors/open_requests.hpp"
#include "messages/storage_actor.hpp"
#include "messages/token_actor.hpp"

namespace herald {

/// Returns the wall clock in Unix seconds.
int64_t unix_now();

/// Everything the token actor needs; the node builds it from [token].
struct token_settings {
  /// The first key signs; all verify.
  jwt::key_ring keys;
  jwt::policy policy;
  /// How long a user's token version read from storage is trusted.
  std::chrono::seconds version_cache_ttl{30};
  /// Timeout of each storage request.
  std::chrono::milliseconds storage_timeout{5000};
  /// Bound on cached versions; stale entries go first, then all.
  size_t version_cache_max = 100000;
  /// Wall clock in Unix seconds; tests inject a fake one.
  std::function<int64_t()> now = unix_now;
  /// At a shutdown, how long requests under way may take to finish.
  std::chrono::milliseconds drain_grace{10000};
};

/// Checks settings at configuration time (keys, policy, timeouts).
caf::error check(const token_settings& settings);

/// Why the `service` ("token", "session") cannot work with `settings` and
/// its `peer` (present if `has_peer`): an `internal` error its every
/// request then answers; none if it can.
caf::error misconfiguration(const char* service, const token_settings& settings,
                            bool has_peer, const char* peer);

/// A user's token version as last read from storage.
struct cached_version {
  uint32_t version = 0;
  /// Unix seconds (settings.now) of the read.
  int64_t fetched_at = 0;
};

struct token_state {
  static inline const char* name = "token";

  token_settings settings;
  storage_actor store;
  /// Set if the settings failed `check`: every request answers it.
  caf::error misconfigured;
  /// user id -> version.
  std::unordered_map<uint64_t, cached_version> versions;
  /// Counts revocations and `forget`s; a storage read started before one of
  /// them does not refill the cache (its answer may predate the change).
  uint64_t epoch = 0;
  /// Requests taken and not yet answered (drained at a shutdown).
  open_requests requests;
};

/// Spawnable behavior: `sys.spawn(token, settings, store)`.
token_actor::behavior_type
token(token_actor::stateful_pointer<token_state> self, token_settings settings,
      storage_actor store);

} // namespace herald
