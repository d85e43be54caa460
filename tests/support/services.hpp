// The account services of one node (user, token, session) over the fake
// storage and a real hasher with cheap argon2id parameters, for actor-level
// tests that need several of them together.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "actors/hasher.hpp"
#include "actors/session.hpp"
#include "actors/token.hpp"
#include "actors/user.hpp"
#include "tests/support/fake_storage.hpp"
#include "tests/test.hpp"

namespace herald::test {

/// Cheap argon2id parameters: the tests check logic, not cost.
inline const argon2_params cheap_argon2{64, 1, 1};

/// The signing key of the tests' tokens.
inline const jwt::key test_key{"k1", std::string(32, '\x11')};

struct services_fixture : fixture {
  std::shared_ptr<fake_store> store = std::make_shared<fake_store>();
  storage_actor storage = sys.spawn(fake_storage, store);
  hasher_actor hasher = sys.spawn(hasher_worker, cheap_argon2);
  user_actor users;
  token_actor tokens;
  session_actor sessions;
  /// The token services' clock, unix seconds.
  int64_t now = 1700000000;

  token_settings keys() {
    token_settings s;
    s.keys.keys = {test_key};
    s.policy.issuer = "herald";
    s.policy.audience = "herald";
    s.now = [this] { return now; };
    return s;
  }

  services_fixture() {
    user_settings us;
    us.dummy_hash = *hash_password("not a real password at all", cheap_argon2);
    users = sys.spawn(user_service, us, storage, hasher, token_actor{},
                      outbox_relay_actor{});
    tokens = sys.spawn(token, keys(), storage);
    sessions = sys.spawn(session_service, keys(), users);
  }
};

} // namespace herald::test
