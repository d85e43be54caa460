// Interface of the password hasher (a pool of detached workers).
#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/fwd.hpp"
#include "messages/user.hpp"

namespace herald {

/// The hasher's load, for metrics: a queue that keeps growing means logins
/// wait for hashing.
struct hasher_status {
  /// Workers running now (a pool's restarting workers are not counted).
  uint32_t workers = 0;
  /// Workers hashing or verifying at this moment.
  uint32_t busy = 0;
  /// Requests handed to a worker that has not taken them up yet.
  uint32_t queued = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hasher_status& x) {
  return f(caf::meta::type_name("herald::hasher_status"), x.workers, x.busy,
           x.queued);
}

using hasher_actor = caf::typed_actor<
    /// Hashes a password with argon2id and a fresh salt; answers the PHC
    /// string.
    caf::replies_to<atom::hash, std::string>::with<std::string>,
    /// Verifies (password, stored hash); argon2id and bcrypt ($2a$ $2b$ $2y$)
    /// hashes are understood. An unparsable hash answers `valid = false`.
    caf::replies_to<atom::verify, std::string,
                    std::string>::with<password_check>,
    /// Answers the load at once: the pool's dispatcher answers it itself,
    /// never behind the hashing it reports on.
    caf::replies_to<atom::status>::with<hasher_status>>;

} // namespace herald
