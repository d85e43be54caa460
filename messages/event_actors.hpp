// Interfaces of the event path: handlers, the local event bus and the outbox
// relay that feeds it.
#pragma once

#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/event.hpp"
#include "messages/fwd.hpp"

namespace herald {

/// Anything that handles events (the mailer, later the AMQP bridge). Who
/// may call: the local event bus and the AMQP bridge; never handed out.
using event_handler_actor = caf::typed_actor<
    /// Handles one event; answers ok only when its work is done for good.
    /// Must be idempotent by event id: an event may come more than once.
    caf::replies_to<atom::handle, event>::with<caf::ok_atom>>;

/// Topic -> local subscribers. Who may call: this node's components only;
/// the node never hands it out.
using event_bus_actor = caf::typed_actor<
    /// Adds a handler for a topic (exact match). Handlers that terminate are
    /// dropped.
    caf::replies_to<atom::subscribe, std::string,
                    event_handler_actor>::with<caf::ok_atom>,
    /// Removes a handler of a topic (ok if it was none).
    caf::replies_to<atom::unsubscribe, std::string,
                    event_handler_actor>::with<caf::ok_atom>,
    /// Hands the event to every subscriber of its topic at once; ok only if
    /// every one answered ok (none subscribed: ok), else the first error.
    caf::replies_to<atom::publish, event>::with<caf::ok_atom>>;

/// Delivers outbox rows to the bus, in order per key, with retries. Who may
/// call: operators (status, through the node) and this node's services
/// (wake); neither changes what it delivers.
using outbox_relay_actor = caf::typed_actor<
    /// Pending and dead counts, age of the oldest pending row, last error.
    caf::replies_to<atom::outbox, atom::status>::with<outbox_status>,
    /// Looks for new rows now instead of at the next poll.
    caf::reacts_to<atom::wake>,
    /// The relay's own timer (poll, retry due rows, flush); sent to itself.
    caf::reacts_to<atom::tick>>;

} // namespace herald
