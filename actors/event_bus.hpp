// The event bus: topic -> local subscribers. Publishing succeeds only when
// every subscriber of the topic handled the event.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/deadlines.hpp"
#include "messages/event_actors.hpp"

namespace herald {

/// The bus as it sees itself: plus its timer.
using event_bus_impl = event_bus_actor::extend<
    /// Fails the publishes whose handlers took longer than the timeout;
    /// sent to itself while any is open.
    caf::reacts_to<atom::tick>>;

struct event_bus_state {
  static inline const char* name = "event_bus";
  /// One publish waiting for its handlers.
  struct publish_op {
    caf::typed_response_promise<caf::ok_atom> rp;
    std::string topic;
    /// Handlers yet to answer.
    size_t open = 0;
  };
  /// Topic -> handlers.
  std::multimap<std::string, event_handler_actor> subscribers;
  /// Time the handlers get for one event.
  std::chrono::seconds timeout{60};
  /// Publishes under way (deadlines.hpp: one timer for all).
  deadlines<std::shared_ptr<publish_op>> pending;
};

event_bus_impl::behavior_type
event_bus(event_bus_impl::stateful_pointer<event_bus_state> self,
          std::chrono::seconds handler_timeout);

} // namespace herald
