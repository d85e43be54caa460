// The node actor: the receptionist a node publishes on its cluster port and
// the supervisor of its components. It holds the registry of what runs
// (name -> handle, in start order), hands out the handles of the services
// meant for callers from outside, monitors every component, and stops them
// in reverse order at a shutdown, waiting for each (stop_timeout, then it
// is killed). A component that dies while the node runs ends the node with
// an error after that same ordered stop, so that a process supervisor
// restarts it: pools (storage, hasher, smtp, relay) replace their own
// workers and die only when that keeps failing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/node_actor.hpp"
#include "node/membership.hpp"

namespace herald {

/// The node as it sees itself: plus its stop timer.
using node_impl = node_actor::extend<
    /// Sent to itself when a component took longer than stop_timeout to
    /// stop: the component is killed. The number is the stop's random id.
    caf::reacts_to<atom::tick, uint64_t>>;

/// One component in the registry.
struct registered_component {
  std::string name;
  caf::actor handle;
  component_status status;
  /// A worker pool: asked for its workers' health in a status.
  bool pool = false;
  /// Killed by the node after its stop timeout.
  bool killed = false;
};

struct node_state {
  static inline const char* name = "node";
  /// Static part of the status (name, version, roles, endpoint, instance).
  node_status info;
  /// In start order.
  std::vector<registered_component> components;
  std::chrono::milliseconds stop_timeout{10000};
  bool stopping = false;
  /// The reason the node exits with once everything stopped.
  caf::error exit_reason;
  /// Components below this index are still to be stopped; the one at it is
  /// stopping now.
  size_t next_stop = 0;
  /// Random id of the current stop step (matches its tick).
  uint64_t step = 0;
  /// The whole stop ends by then: what is still running is killed.
  caf::actor_clock::time_point stop_deadline;
  /// Answers peers' introductions and the cluster status; none: the node
  /// answers both `unavailable`.
  membership_actor membership;
};

/// How long a whole stop may take: three times the time one component gets
/// (30 s with the defaults, within a process supervisor's usual 90 s).
caf::timespan stop_budget(std::chrono::milliseconds stop_timeout);

/// Spawnable behavior:
/// `sys.spawn(node, info, components, stop_timeout, membership)`.
/// `components` are running already; the node monitors them from its first
/// message on (a component that died before is reported at once).
/// `membership` may be invalid (a node alone, tests).
node_impl::behavior_type node(node_impl::stateful_pointer<node_state> self,
                              node_status info,
                              std::vector<registered_component> components,
                              std::chrono::milliseconds stop_timeout,
                              membership_actor membership);

} // namespace herald
