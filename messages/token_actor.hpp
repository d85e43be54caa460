// Interface of the token service: validation and revocation of HS256 access
// tokens. It signs nothing: a token is only ever issued by the session
// service (messages/session_actor.hpp) for a user who just proved a
// password.
#pragma once

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/context.hpp"
#include "messages/fwd.hpp"
#include "messages/token.hpp"

namespace herald {

using token_actor = caf::typed_actor<
    /// Validates a compact JWS; answers its claims or `unauthenticated` /
    /// `expired` / `invalid_argument` with the reason. Who may call: anyone
    /// who holds a token (services, gateways, operators); it tells only what
    /// the token itself says, once its signature and revocation state check.
    caf::replies_to<atom::validate, request_context, std::string>::with<claims>,
    /// Revokes every token of a user (bumps token_version in storage) and
    /// answers the new version. Who may call: operators and this node's
    /// services (the cluster port is their door).
    caf::replies_to<atom::revoke, request_context, uint64_t>::with<uint32_t>,
    /// Tells the token service that a user's token version changed to the
    /// given value (or that the user is gone), so its cache drops older
    /// tokens now. Sent by the user and reset services; from anyone else it
    /// can only make the next validation of that user read storage.
    caf::reacts_to<atom::forget, uint64_t, uint32_t>>;

} // namespace herald
