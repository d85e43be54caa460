// Interface of the account store. Every request is one whole unit of work;
// implementations: the MySQL pool (storage/) and an in-memory fake (tests).
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/fwd.hpp"
#include "messages/node.hpp"
#include "messages/user.hpp"

namespace herald {

using storage_actor = caf::typed_actor<
    /// Inserts an account; `conflict` if the email is taken.
    caf::replies_to<atom::create, new_account>::with<account>,
    /// Reads an account by id; `not_found` if there is none.
    caf::replies_to<atom::get, uint64_t>::with<account>,
    /// Reads an account by (lower-cased) email; `not_found` if there is none.
    caf::replies_to<atom::get, atom::by_email, std::string>::with<account>,
    /// Lists accounts ordered by id: (page starting at 1, per_page).
    caf::replies_to<atom::list, uint32_t, uint32_t>::with<user_page>,
    /// Applies a patch in one transaction and answers the new state;
    /// `not_found` or `conflict` (email taken).
    caf::replies_to<atom::update, uint64_t, account_patch>::with<account>,
    /// Deletes an account; `not_found` if there is none.
    caf::replies_to<atom::remove, uint64_t>::with<caf::ok_atom>,
    /// Pings the database and counts accounts.
    caf::replies_to<atom::status>::with<storage_status>>;

} // namespace herald
