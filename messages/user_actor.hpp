// Interface of the user service: accounts as the rest of the system sees
// them. Who may call: operators (heraldctl over the cluster port, which is
// the door for operators and peer nodes: loopback-only by default, mutual
// TLS with the cluster) and this node's own services. A gateway for end
// users must check that the caller may act on the user before it asks
// (a user on itself, an admin on anyone).
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/context.hpp"
#include "messages/fwd.hpp"
#include "messages/user.hpp"

namespace herald {

using user_actor = caf::typed_actor<
    /// Creates a user; `invalid_argument` for a bad name, email or password,
    /// `conflict` if the email is taken.
    caf::replies_to<atom::create, request_context, new_user>::with<user>,
    /// Reads a user by id; `not_found`.
    caf::replies_to<atom::get, request_context, uint64_t>::with<user>,
    /// Reads a user by email (case-insensitive); `not_found`.
    caf::replies_to<atom::get, request_context, atom::by_email,
                    std::string>::with<user>,
    /// Lists users by id: (after: the `next` of the previous page, 0 for
    /// the first; limit 1..100). The page's `next` is 0 at the end.
    caf::replies_to<atom::list, request_context, uint64_t,
                    uint32_t>::with<user_page>,
    /// Changes name, email and/or password; a new password or email
    /// revokes all tokens.
    caf::replies_to<atom::update, request_context, uint64_t,
                    user_patch>::with<user>,
    /// Sets the role ("user" or "admin"); revokes all tokens of the user.
    caf::replies_to<atom::set_role, request_context, uint64_t,
                    std::string>::with<user>,
    /// Deletes a user; `not_found`.
    caf::replies_to<atom::remove, request_context,
                    uint64_t>::with<caf::ok_atom>,
    /// Checks (email, password); `unauthenticated` for an unknown email or a
    /// wrong password alike, after the same amount of hashing work. Issues
    /// nothing: the session service logs in.
    caf::replies_to<atom::authenticate, request_context, std::string,
                    std::string>::with<user>>;

} // namespace herald
