// Interface of the password reset service. Who may call: anyone (end users
// through a gateway, operators): a request reveals nothing about the email
// and mails only the stored address, and a confirm needs the token from
// that mail.
#pragma once

#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/context.hpp"
#include "messages/fwd.hpp"

namespace herald {

using password_reset_actor = caf::typed_actor<
    /// Requests a reset link for an email. Answers ok whether or not the
    /// email belongs to a user (the mail goes only to a real user's stored
    /// address); `invalid_argument` for a malformed email, `rate_limited`
    /// past the hourly limit for that email.
    caf::replies_to<atom::reset_request, request_context,
                    std::string>::with<caf::ok_atom>,
    /// Sets a new password with a token from a reset mail: (token, password).
    /// `invalid_argument` (malformed token, weak password), `not_found`,
    /// `already_used`, `expired`, `revoked`.
    caf::replies_to<atom::reset_confirm, request_context, std::string,
                    std::string>::with<caf::ok_atom>>;

} // namespace herald
