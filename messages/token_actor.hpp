// Interface of the token actor: JWT (HS256) issue, validation, revocation.
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/fwd.hpp"
#include "messages/token.hpp"
#include "messages/user.hpp"

namespace herald {

using token_actor = caf::typed_actor<
    /// Issues an access token for the user, signed with the current key.
    caf::replies_to<atom::issue, user>::with<issued_token>,
    /// Validates a compact JWS; answers its claims or `unauthenticated` /
    /// `expired` / `invalid_argument` with the reason.
    caf::replies_to<atom::validate, std::string>::with<claims>,
    /// Revokes every token of a user (bumps token_version in storage); answers
    /// the new version.
    caf::replies_to<atom::revoke, uint64_t>::with<uint32_t>,
    /// Tells the token actor that a user's token version changed to the given
    /// value (or that the user is gone), so its cache drops older tokens now.
    caf::reacts_to<atom::forget, uint64_t, uint32_t>>;

} // namespace herald
