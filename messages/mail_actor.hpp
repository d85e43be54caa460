// Interface of the SMTP bridge.
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/event.hpp"
#include "messages/fwd.hpp"

namespace herald {

using smtp_actor = caf::typed_actor<
    /// Sends a mail; ok once the SMTP server accepted it (250 after DATA).
    /// `unavailable` for what may pass (no connection, timeout, 4xx),
    /// `rejected` for a permanent refusal (5xx), `invalid_argument` for a
    /// mail that must not be sent (CR/LF in a header value, bad address).
    caf::replies_to<atom::send, mail>::with<caf::ok_atom>>;

} // namespace herald
