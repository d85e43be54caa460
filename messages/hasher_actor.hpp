// Interface of the password hasher (a pool of detached workers).
#pragma once

#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/fwd.hpp"
#include "messages/user.hpp"

namespace herald {

using hasher_actor = caf::typed_actor<
    /// Hashes a password with argon2id and a fresh salt; answers the PHC
    /// string.
    caf::replies_to<atom::hash, std::string>::with<std::string>,
    /// Verifies (password, stored hash); argon2id and bcrypt ($2a$ $2b$ $2y$)
    /// hashes are understood. An unparsable hash answers `valid = false`.
    caf::replies_to<atom::verify, std::string,
                    std::string>::with<password_check>>;

} // namespace herald
