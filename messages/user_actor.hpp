// Interface of the user actor: accounts as the rest of the system sees them.
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/fwd.hpp"
#include "messages/user.hpp"

namespace herald {

using user_actor = caf::typed_actor<
    /// Creates a user; `invalid_argument` for a bad name, email or password,
    /// `conflict` if the email is taken.
    caf::replies_to<atom::create, new_user>::with<user>,
    /// Reads a user by id; `not_found`.
    caf::replies_to<atom::get, uint64_t>::with<user>,
    /// Reads a user by email (case-insensitive); `not_found`.
    caf::replies_to<atom::get, atom::by_email, std::string>::with<user>,
    /// Lists users: (page >= 1, per_page 1..100).
    caf::replies_to<atom::list, uint32_t, uint32_t>::with<user_page>,
    /// Changes name, email and/or password; a new password revokes all tokens.
    caf::replies_to<atom::update, uint64_t, user_patch>::with<user>,
    /// Sets the role ("user" or "admin").
    caf::replies_to<atom::set_role, uint64_t, std::string>::with<user>,
    /// Deletes a user; `not_found`.
    caf::replies_to<atom::remove, uint64_t>::with<caf::ok_atom>,
    /// Checks (email, password); `unauthenticated` for an unknown email or a
    /// wrong password alike, after the same amount of hashing work.
    caf::replies_to<atom::authenticate, std::string, std::string>::with<user>>;

} // namespace herald
