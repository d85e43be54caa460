// A dispatcher that hands each request to one of a set of workers in turn.
// Used for actors whose work blocks (hashing, MySQL) and so runs on detached
// workers: callers see one handle of the workers' own typed interface.
#pragma once

#include <memory>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

namespace herald {

namespace detail {

/// Spawns the untyped dispatcher over `workers`. It forwards every message
/// with sender and request id intact (the worker answers the original
/// requester), and takes the workers down with it when it exits.
caf::actor spawn_dispatcher(caf::actor_system& sys,
                            std::vector<caf::actor> workers);

} // namespace detail

/// Spawns `n` workers via `spawn_worker()` (which spawns one, usually
/// detached) and answers a dispatcher speaking the workers' interface.
template <class Handle, class F>
Handle spawn_worker_pool(caf::actor_system& sys, size_t n, F spawn_worker) {
  std::vector<caf::actor> workers;
  for (size_t i = 0; i < std::max(n, size_t{1}); ++i)
    workers.push_back(caf::actor_cast<caf::actor>(spawn_worker()));
  return caf::actor_cast<Handle>(
      detail::spawn_dispatcher(sys, std::move(workers)));
}

} // namespace herald
