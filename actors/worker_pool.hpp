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

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/send.hpp>
#include <caf/timespan.hpp>

namespace herald {

struct worker_pool_health;

/// One slot's share of a pool's load. A worker's mailbox cannot be read from
/// outside it, so the two sides count: the dispatcher adds to `waiting` for
/// each request it hands to the slot, the worker moves it to `busy` while it
/// runs it (worker_load_guard).
struct worker_slot_load {
  /// Handed to the slot's worker and not taken up yet.
  std::atomic<uint32_t> waiting{0};
  /// 1 while the worker runs a request.
  std::atomic<uint32_t> busy{0};
};

/// The load of a pool's slots (see worker_pool_settings::load).
class worker_pool_load {
public:
  explicit worker_pool_load(size_t slots)
      : slots_(std::make_unique<worker_slot_load[]>(slots)), size_(slots) {
    // nop
  }

  size_t size() const noexcept { return size_; }

  worker_slot_load& slot(size_t i) noexcept { return slots_[i]; }

  const worker_slot_load& slot(size_t i) const noexcept { return slots_[i]; }

private:
  std::unique_ptr<worker_slot_load[]> slots_;
  size_t size_;
};

/// Held by a pooled worker around each request it runs: takes the request off
/// its slot's waiting count and marks the slot busy until it ends. A null slot
/// (a worker outside any pool) counts nothing.
class worker_load_guard {
public:
  explicit worker_load_guard(worker_slot_load* slot) : slot_(slot) {
    if (slot_ == nullptr)
      return;
    // Never below zero: a request that reached the worker some other way
    // was not counted on the way in.
    auto n = slot_->waiting.load();
    while (n > 0 && !slot_->waiting.compare_exchange_weak(n, n - 1)) {
      // n reloaded
    }
    slot_->busy.store(1);
  }

  ~worker_load_guard() {
    if (slot_ != nullptr)
      slot_->busy.store(0);
  }

  worker_load_guard(const worker_load_guard&) = delete;
  worker_load_guard& operator=(const worker_load_guard&) = delete;

private:
  worker_slot_load* slot_;
};

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
  /// Load accounting with one entry per slot, for workers that take part by
  /// holding a worker_load_guard in every handler. The pool counts what it
  /// hands to each slot and clears a slot whose worker died (CAF answered
  /// what waited there). Null: nothing is counted, busy and queued stay 0.
  std::shared_ptr<worker_pool_load> load = nullptr;
  /// If set, the pool answers `(atom::status)` itself with what this makes
  /// of its health, instead of handing it to a worker that would answer only
  /// after the work queued before it.
  std::function<caf::message(const worker_pool_health&)> status = nullptr;
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
  /// Workers running a request, and requests waiting in the workers'
  /// mailboxes (both 0 without worker_pool_settings::load).
  size_t busy = 0;
  size_t queued = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_pool_health& x) {
  return f(caf::meta::type_name("herald::worker_pool_health"), x.name, x.size,
           x.live, x.restarts, x.busy, x.queued);
}

namespace detail {

/// Spawns the untyped dispatcher with `n` slots, each filled by
/// `spawn_worker(slot)` now and again after every death of its worker. It
/// forwards every other message with sender and request id intact (the
/// worker answers the original requester), to the live workers in turn, and
/// answers `unavailable` itself while none is live. Requests a worker held
/// when it died, or got just before the pool heard of it, are answered by
/// CAF with `request_receiver_down`. The workers stop when the pool exits.
/// It answers these messages itself, which worker interfaces must therefore
/// not use: `(caf::get_atom, caf::sys_atom)` with its worker_pool_health
/// (the node asks, through an untyped handle), and `(caf::spawn_atom,
/// size_t)`, its own restart timer; and `(atom::status)` when
/// `settings.status` is set.
caf::actor spawn_dispatcher(caf::actor_system& sys, size_t n,
                            std::function<caf::actor(size_t)> spawn_worker,
                            worker_pool_settings settings);

} // namespace detail

/// Spawns a pool of `n` (at least one) workers, each from `spawn_worker()` or
/// `spawn_worker(slot)` (which spawns one, usually detached; the slot, below
/// `n`, picks the worker's entry of `settings.load`), and answers a dispatcher
/// speaking the workers' interface. `spawn_worker` runs `n` times before this
/// returns, then is kept and called again for every restart, long after: it
/// must own what it uses (capture by value), never refer to the caller's locals
/// or parameters.
template <class Handle, class F>
Handle spawn_worker_pool(caf::actor_system& sys, size_t n, F spawn_worker,
                         worker_pool_settings settings = {}) {
  std::function<caf::actor(size_t)> spawn
      = [f = std::move(spawn_worker)](size_t slot) mutable {
          if constexpr (std::is_invocable_v<F&, size_t>)
            return caf::actor_cast<caf::actor>(f(slot));
          else
            return caf::actor_cast<caf::actor>(f());
        };
  return caf::actor_cast<Handle>(
      detail::spawn_dispatcher(sys, n, std::move(spawn), std::move(settings)));
}

} // namespace herald
