// The settings of token validation ([token]): shared by the token actor, the
// token verifier (actors/token_verifier.hpp) and the session service, which
// signs with the same keys and policy.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

#include <caf/error.hpp>

#include "actors/jwt.hpp"

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
  /// Wall clock in Unix seconds; tests inject a fake one. Called from any
  /// thread that validates.
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

} // namespace herald
