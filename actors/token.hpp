// The token actor: validates HS256 access tokens and revokes all tokens of a
// user by bumping the user's token version in storage. It signs nothing
// (actors/session.hpp logs in); who may call it: messages/token_actor.hpp.
//
// Validation is the signature and claim checks of actors/jwt.hpp, done
// inline, followed by a revocation check: the token's `ver` must not be
// lower than the account's current token_version. Versions are cached per
// user for `version_cache_ttl`, so a revocation made on another node takes
// effect here within that time; on this node, `revoke` and `forget` act at
// once. The checks and the cache are a token_verifier
// (actors/token_verifier.hpp) that the node's other validators (the HTTP
// gateway's I/O threads) share: this actor is the one that reads storage and
// fills and clears the cache.
#pragma once

#include <cstdint>
#include <memory>

#include <caf/error.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/jwt.hpp"
#include "actors/open_requests.hpp"
#include "actors/token_settings.hpp"
#include "actors/token_verifier.hpp"
#include "messages/storage_actor.hpp"
#include "messages/token_actor.hpp"

namespace herald {

struct token_state {
  static inline const char* name = "token";

  /// Keys, policy and the node's token-version cache, shared with
  /// validators outside this actor.
  std::shared_ptr<token_verifier> verifier;
  storage_actor store;
  /// Set if the settings failed `check` or there is no storage: every
  /// request answers it.
  caf::error misconfigured;
  /// Requests taken and not yet answered (drained at a shutdown).
  open_requests requests;
  /// Told `forget` after a revoke of this service, to reach the token caches
  /// of the other members (the node's token router); may be invalid.
  token_actor cluster;
};

/// Spawnable behavior over a verifier shared with other validators:
/// `sys.spawn(token_service, verifier, store)`.
token_actor::behavior_type
token_service(token_actor::stateful_pointer<token_state> self,
              std::shared_ptr<token_verifier> verifier, storage_actor store);

/// Like token_service, and tells `cluster` (the node's token router,
/// node/router.hpp) of each revoke it makes, so that the other members'
/// caches drop the user's older tokens at once:
/// `sys.spawn(clustered_token_service, verifier, store, cluster)`.
token_actor::behavior_type
clustered_token_service(token_actor::stateful_pointer<token_state> self,
                        std::shared_ptr<token_verifier> verifier,
                        storage_actor store, token_actor cluster);

/// Spawnable behavior with a verifier of its own:
/// `sys.spawn(token, settings, store)`.
token_actor::behavior_type
token(token_actor::stateful_pointer<token_state> self, token_settings settings,
      storage_actor store);

} // namespace herald
