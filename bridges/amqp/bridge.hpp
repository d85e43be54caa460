// The AMQP bridge as one actor: it owns the publisher (outbound routes) and a
// consumer with its coordinator per inbound route, and answers `bridge
// status` from their shared counters.
//
// Shutdown: on an exit message the bridge sends its parts an exit and goes
// down only after all of them did, so once a monitor of the bridge sees it
// down, every connection is closed and every unacked delivery is back in its
// queue (stop the bridge before the handlers). A part failing takes the
// bridge down the same way (they are linked), so whoever supervises it sees
// the failure.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "bridges/amqp/counters.hpp"
#include "bridges/amqp/settings.hpp"
#include "messages/bridge.hpp"
#include "messages/event_actors.hpp"

namespace herald::amqp {

struct amqp_bridge_state {
  static inline const char* name = "amqp_bridge";
  /// The broker's URL without password.
  std::string broker;
  std::shared_ptr<bridge_counters> counters;
  /// Publisher, coordinators and consumers.
  std::vector<caf::actor> parts;
  /// Parts not down yet.
  std::set<caf::actor_addr> running;
  /// Exiting: waits for the parts to go down.
  bool stopping = false;
  caf::error reason;
};

/// Answers (bridge, status); links to and monitors `parts`, and stops them
/// before it goes down.
amqp_bridge_actor::behavior_type
amqp_bridge(amqp_bridge_actor::stateful_pointer<amqp_bridge_state> self,
            std::string broker, std::shared_ptr<bridge_counters> counters,
            std::vector<caf::actor> parts);

/// The topics of messages/event.hpp that some outbound route matches: the
/// publisher's subscriptions on the bus.
std::vector<std::string> outbound_topics(const amqp_settings& settings);

/// Spawns the bridge: the publisher (only with outbound routes), subscribed
/// on `bus` for outbound_topics(); for each inbound route a coordinator with
/// handlers[route.handler] and its consumer. The subscriptions are enqueued
/// at the bus before this returns, so events the bus gets afterwards reach
/// the publisher (`bus` may be null without outbound routes). Error
/// `invalid_argument` if a route names a handler that is not in `handlers`,
/// or outbound routes come without a bus (nothing is spawned then).
caf::expected<amqp_bridge_actor>
spawn_amqp_bridge(caf::actor_system& sys, amqp_settings settings,
                  event_bus_actor bus,
                  std::map<std::string, event_handler_actor> handlers);

} // namespace herald::amqp
