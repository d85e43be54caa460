// Interface of the session service: login. The only place where tokens are
// signed, and only for the user whose password was checked in the same
// request.
#pragma once

#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/context.hpp"
#include "messages/fwd.hpp"
#include "messages/token.hpp"

namespace herald {

using session_actor = caf::typed_actor<
    /// Logs in with (email, password): answers a token signed with the
    /// current key, carrying the role stored for that user, its expiry and
    /// the user. `unauthenticated` with one message for an unknown email
    /// and a wrong password alike, after the same hashing work;
    /// `invalid_argument` for a malformed email or an overlong password.
    /// Who may call: anyone; the password is the proof.
    caf::replies_to<atom::login, request_context, std::string,
                    std::string>::with<session>>;

} // namespace herald
