// A dispatcher that hands each request to one of a set of workers in turn.
// Used for actors whose work blocks (hashing, MySQL) and so runs on detached
// workers: callers see one handle of the workers' own typed interface.
//
// The pool supervises its workers: one that dies is spawned again in its slot
// after a backoff, so the handle others hold stays good. Only when workers
// die faster than `worker_pool_settings` allows does the pool give up and
// exit, and its own supervisor (the node) sees that.
//
// Why not caf::actor_pool: it drops a dead worker for good (no restart, no
// backoff, no limit) and exits with `out_of_workers` once the last is gone.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/send.hpp>
#include <caf/timespan.hpp>

namespace herald {

/// How a pool restarts its workers. The defaults suit workers that die only
/// by a bug: restart quickly, but stop trying when they keep dying.
struct worker_pool_settings {
  /// Names the pool in logs, errors and its health, e.g. "mysql_storage".
  std::string name = "worker_pool";
  /// Delay before a slot's first restart; it doubles with every further
  /// restart of that slot within `window`, up to `max_backoff`.
  caf::timespan initial_backoff = std::chrono::milliseconds{100};
  caf::timespan max_backoff = std::chrono::seconds{5};
  /// A death that would make more than `max_restarts` restarts within
  /// `window` ends the pool with that worker's exit reason: a worker that
  /// cannot stay up is a node that cannot serve, and its supervisor decides.
  size_t max_restarts = 5;
  caf::timespan window = std::chrono::seconds{60};
};

/// What a pool answers to `(caf::get_atom, caf::sys_atom)`, for a node's
/// status: a pool whose `live` stays below `size` keeps losing workers.
struct worker_pool_health {
  std::string name;
  /// Slots, i.e. workers the pool keeps running when all is well.
  size_t size = 0;
  /// Workers running now; the others wait for their restart.
  size_t live = 0;
  /// Restarts since the pool started.
  size_t restarts = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_pool_health& x) {
  return f(caf::meta::type_name("herald::worker_pool_health"), x.name, x.size,
           x.live, x.restarts);
}

namespace detail {

/// Spawns the untyped dispatcher with `n` slots, each filled by
/// `spawn_worker()` now and again after every death of its worker. It
/// forwards every other message with sender and request id intact (the
/// worker answers the original requester), to the live workers in turn, and
/// answers `unavailable` itself while none is live. Requests a worker held
/// when it died, or got just before the pool heard of it, are answered by
/// CAF with `request_receiver_down`. The workers stop when the pool exits.
/// It answers two messages itself, which worker interfaces must therefore
/// not use: `(caf::get_atom, caf::sys_atom)` with its worker_pool_health
/// (the node asks, through an untyped handle), and `(caf::spawn_atom,
/// size_t)`, its own restart timer.
caf::actor spawn_dispatcher(caf::actor_system& sys, size_t n,
                            std::function<caf::actor()> spawn_worker,
                            worker_pool_settings settings);

} // namespace detail

/// Spawns a pool of `n` (at least one) workers, each from `spawn_worker()`
/// (which spawns one, usually detached), and answers a dispatcher speaking the
/// workers' interface. `spawn_worker` runs `n` times before this returns,
/// then is kept and called again for every restart, long after: it must own
/// what it uses (capture by value), never refer to the caller's locals or
/// parameters.
template <class Handle, class F>
Handle spawn_worker_pool(caf::actor_system& sys, size_t n, F spawn_worker,
                         worker_pool_settings settings = {}) {
  std::function<caf::actor()> spawn = [f = std::move(spawn_worker)]() mutable {
    return caf::actor_cast<caf::actor>(f());
  };
  return caf::actor_cast<Handle>(
      detail::spawn_dispatcher(sys, n, std::move(spawn), std::move(settings)));
}

} // namespace herald
