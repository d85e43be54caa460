// The outbound half of the AMQP bridge: one detached actor that owns one
// connection (rabbitmq-c connections are not thread-safe) and publishes the
// events of the outbound routes with publisher confirms.
//
// Requests are batched: a request is buffered and the actor sends itself a
// flush; everything that arrived before the flush goes out together and the
// broker's confirms for the whole batch are awaited at once, so a batch costs
// about one round trip. Each request is answered ok only after the broker's
// basic.ack for its message; a nack, a return (unroutable), a timeout or a
// lost connection answers ec::unavailable, so the outbox row stays pending.
// While disconnected, requests are answered ec::unavailable at once and the
// actor reconnects with exponential backoff, declaring every outbound
// exchange again.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/counters.hpp"
#include "bridges/amqp/settings.hpp"
#include "messages/event_actors.hpp"

namespace herald::amqp {

/// The publisher as it sees itself: an event handler plus its own timers.
/// Others get the event_handler_actor part only.
using publisher_actor = event_handler_actor::extend<
    /// Publishes the buffered requests; sent to itself.
    caf::reacts_to<atom::publish>,
    /// Keeps an idle connection alive (heartbeats); sent to itself every
    /// heartbeat / 2.
    caf::reacts_to<atom::tick>,
    /// Connects (again); sent to itself.
    caf::reacts_to<atom::wake>>;

struct publisher_state {
  static inline const char* name = "amqp_publisher";

  /// A request waiting for its batch.
  struct request {
    caf::typed_response_promise<caf::ok_atom> rp;
    event ev;
    /// Index into settings.outbound.
    size_t route;
  };

  amqp_settings settings;
  std::shared_ptr<bridge_counters> counters;
  /// The URL without password.
  std::string broker;
  /// Null while disconnected.
  std::unique_ptr<connection> conn;
  std::vector<request> buffer;
  /// A flush is in the mailbox.
  bool flush_pending = false;
  /// A connect attempt is scheduled.
  bool connect_pending = false;
  /// Delay before the next connect attempt after a failed one.
  std::chrono::milliseconds backoff{0};
  /// Why the last connection failed or broke (for answers while down).
  std::string last_error;
};

/// Most messages published in one batch (one wait for confirms).
constexpr size_t max_publish_batch = 1000;

/// The name under which the publisher reports its connection state.
constexpr const char* publisher_connection_name = "publisher";

/// Index of the first outbound route with a topic pattern matching `topic`.
std::optional<size_t> route_of(const amqp_settings& settings,
                               const std::string& topic);

/// Answers (handle, event): ok at once for a topic without outbound route,
/// else as described above. Counts published, confirmed and returned per
/// route in `counters` (may be null) and reports its connection state there
/// as "publisher". Runs until it receives an exit message. Blocking: spawn it
/// detached.
publisher_actor::behavior_type
amqp_publisher(publisher_actor::stateful_pointer<publisher_state> self,
               amqp_settings settings,
               std::shared_ptr<bridge_counters> counters);

/// Spawns amqp_publisher detached. It connects at once, in its own thread
/// before it takes the first request (a detached actor initializes there).
event_handler_actor
spawn_amqp_publisher(caf::actor_system& sys, amqp_settings settings,
                     std::shared_ptr<bridge_counters> counters);

} // namespace herald::amqp
