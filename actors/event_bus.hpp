// The event bus: topic -> local subscribers. Publishing succeeds only when
// every subscriber of the topic handled the event.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include <caf/typed_event_based_actor.hpp>

#include "messages/event_actors.hpp"

namespace herald {

struct event_bus_state {
  static inline const char* name = "event_bus";
  /// Topic -> handlers.
  std::multimap<std::string, event_handler_actor> subscribers;
  /// Time a handler gets for one event.
  std::chrono::seconds timeout{60};
};

event_bus_actor::behavior_type
event_bus(event_bus_actor::stateful_pointer<event_bus_state> self,
          std::chrono::seconds handler_timeout);

} // namespace herald
