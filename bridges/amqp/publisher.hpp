// The outbound half of the AMQP bridge: publishes the events of the outbound
// routes with publisher confirms, on one connection (rabbitmq-c connections
// are not thread-safe) owned by one blocking actor on its own thread, the
// pump. Others talk to its front, an event handler that hands each request
// to the pump and rings the pump's doorbell (doorbell.hpp).
//
// The pump publishes each request as soon as it takes it and keeps going
// while the broker's confirms come in (a sliding window, not stop-and-wait):
// a request is answered ok only after the broker's basic.ack for its
// message, and the outbox row stays pending on any other answer, which says
// whose failure it is (see confirm_result):
// - basic.return (unroutable on a mandatory route, 312 NO_ROUTE; RabbitMQ
//   acks it afterwards): ec::rejected, the event's own failure;
// - basic.nack (e.g. a queue at x-max-length with x-overflow=reject-publish):
//   ec::deferred, this event is to be published again later;
// - no confirm within confirm_timeout, a lost connection: ec::unavailable,
//   an outage.
// While disconnected, requests are answered ec::unavailable at once and the
// pump reconnects with exponential backoff, declaring every outbound exchange
// again.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>

#include "bridges/amqp/counters.hpp"
#include "bridges/amqp/settings.hpp"
#include "messages/event_actors.hpp"

namespace herald::amqp {

/// The name under which the publisher reports its connection state.
constexpr const char* publisher_connection_name = "publisher";

/// Index of the first outbound route with a topic pattern matching `topic`.
std::optional<size_t> route_of(const amqp_settings& settings,
                               const std::string& topic);

/// Spawns the pump and its front and answers the front: (handle, event) is
/// answered ok at once for a topic without outbound route, else as described
/// above. Counts published, confirmed, returned and nacked per route in
/// `counters` (may be null) and reports the connection state there as
/// "publisher". The pump connects at once. An exit message to the front stops
/// the pump, and the front goes down after the pump closed its connection.
event_handler_actor
spawn_amqp_publisher(caf::actor_system& sys, amqp_settings settings,
                     std::shared_ptr<bridge_counters> counters);

} // namespace herald::amqp
