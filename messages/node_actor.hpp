// Interface of the node actor: the receptionist a node publishes on its
// cluster port. Clients (heraldctl, later other nodes) ask it for status and
// for the handles of the services this node hosts.
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/bridge.hpp"
#include "messages/event_actors.hpp"
#include "messages/fwd.hpp"
#include "messages/node.hpp"
#include "messages/reset_actor.hpp"
#include "messages/token_actor.hpp"
#include "messages/user_actor.hpp"

namespace herald {

using node_actor = caf::typed_actor<
    /// Answers the node's status.
    caf::replies_to<atom::status>::with<node_status>,
    /// Answers the user service of this node; `unavailable` without that role.
    caf::replies_to<atom::get, atom::user>::with<user_actor>,
    /// Answers the token service of this node; `unavailable` without that role.
    caf::replies_to<atom::get, atom::token>::with<token_actor>,
    /// Answers the password reset service; `unavailable` without that role.
    caf::replies_to<atom::get, atom::reset>::with<password_reset_actor>,
    /// Answers the outbox relay; `unavailable` if this node runs none.
    caf::replies_to<atom::get, atom::outbox>::with<outbox_relay_actor>,
    /// Answers the AMQP bridge; `unavailable` without the bridge role.
    caf::replies_to<atom::get, atom::bridge>::with<amqp_bridge_actor>>;

} // namespace herald
