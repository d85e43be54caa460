#include "actors/worker_pool.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <vector>

#include <caf/exit_reason.hpp>
#include <caf/message_view.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include "actors/open_requests.hpp"
#include "messages/error.hpp"
#include "messages/fwd.hpp"

namespace herald::detail {

namespace {

using clock_time = caf::actor_clock::time_point;

/// One restart, remembered for as long as it counts against the limit.
struct restart_record {
  clock_time at;
  size_t slot;
};

struct dispatcher_state {
  static inline const char* name = "worker_pool";
  worker_pool_settings cfg;
  std::function<caf::actor(size_t)> spawn_worker;
  /// One entry per slot; an invalid handle while its worker is restarting.
  /// Shared with the exit hook, which outlives the state.
  std::shared_ptr<std::vector<caf::actor>> workers;
  size_t next = 0;
  size_t restarts = 0;
  /// Restarts within the last `cfg.window`, oldest first.
  std::deque<restart_record> recent;
  /// Told to stop in order: waits for its workers, restarts none.
  bool stopping = false;
};

using dispatcher_actor = caf::stateful_actor<dispatcher_state>;

/// Renders an exit reason for logs: "kill" rather than herald::render's
/// "exit#4" for CAF's own exit reasons.
std::string reason_text(const caf::error& reason) {
  if (!reason)
    return "normal";
  if (reason.category() == caf::atom("exit"))
    return caf::to_string(static_cast<caf::exit_reason>(reason.code()));
  return render(reason);
}

size_t live_count(const dispatcher_state& st) {
  return static_cast<size_t>(
      std::count_if(st.workers->begin(), st.workers->end(),
                    [](const caf::actor& w) { return static_cast<bool>(w); }));
}

/// Answers the slot of the next live worker in turn, or the number of slots
/// if none is live.
size_t next_live(dispatcher_state& st) {
  auto& ws = *st.workers;
  for (size_t i = 0; i < ws.size(); ++i) {
    auto slot = st.next++ % ws.size();
    if (ws[slot])
      return slot;
  }
  return ws.size();
}

/// Clears what a slot's load says after its worker died: CAF answered the
/// requests that waited in its mailbox, and a new worker starts idle.
void clear_load(dispatcher_state& st, size_t slot) {
  if (st.cfg.load && slot < st.cfg.load->size()) {
    st.cfg.load->slot(slot).waiting.store(0);
    st.cfg.load->slot(slot).busy.store(0);
  }
}

worker_pool_health health_of(const dispatcher_state& st) {
  worker_pool_health h{st.cfg.name, st.workers->size(), live_count(st),
                       st.restarts};
  if (st.cfg.load) {
    auto n = std::min(st.cfg.load->size(), st.workers->size());
    for (size_t slot = 0; slot < n; ++slot) {
      // A dead worker's figures are cleared when the pool hears of it.
      if (!(*st.workers)[slot])
        continue;
      h.busy += st.cfg.load->slot(slot).busy.load();
      h.queued += st.cfg.load->slot(slot).waiting.load();
    }
  }
  return h;
}

/// Initial backoff, doubled for every restart of `slot` still in the window.
caf::timespan backoff(const dispatcher_state& st, size_t slot) {
  auto delay = st.cfg.initial_backoff;
  for (auto& r : st.recent)
    if (r.slot == slot && delay < st.cfg.max_backoff)
      delay *= 2;
  return std::min(delay, st.cfg.max_backoff);
}

/// Schedules the restart of `slot`, or ends the pool if that would be one
/// restart too many within the window.
void on_worker_down(dispatcher_actor* self, size_t slot,
                    const caf::error& reason) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (!st.recent.empty() && st.recent.front().at + st.cfg.window <= now)
    st.recent.pop_front();
  if (st.recent.size() >= st.cfg.max_restarts) {
    spdlog::error(
        "{}: worker {} exited ({}); a restart now would be more "
        "than {} within {} s: giving up, the pool exits",
        st.cfg.name, slot, reason_text(reason), st.cfg.max_restarts,
        std::chrono::duration_cast<std::chrono::seconds>(st.cfg.window)
            .count());
    self->quit(reason ? reason : caf::error{caf::exit_reason::unknown});
    return;
  }
  auto delay = backoff(st, slot);
  st.recent.push_back({now, slot});
  ++st.restarts;
  spdlog::warn(
      "{}: worker {} exited ({}); restarting it in {} ms ({} of at "
      "most {} restarts within {} s)",
      st.cfg.name, slot, reason_text(reason),
      std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(),
      st.recent.size(), st.cfg.max_restarts,
      std::chrono::duration_cast<std::chrono::seconds>(st.cfg.window).count());
  self->delayed_send(self, delay, caf::spawn_atom_v, slot);
}

/// Puts `worker` into the empty `slot` and watches it.
void take(dispatcher_actor* self, size_t slot, caf::actor worker) {
  if (!worker) {
    // Counts as a worker that died at once: retried, and limited, as one.
    on_worker_down(self, slot,
                   caf::make_error(ec::internal, "spawning a worker failed"));
    return;
  }
  self->monitor(worker);
  clear_load(self->state, slot);
  (*self->state.workers)[slot] = std::move(worker);
}

/// Hands `msg` to the next live worker, which answers the requester itself;
/// `unavailable` while none is live.
caf::result<caf::message> forward(dispatcher_actor* self, caf::message msg) {
  auto& st = self->state;
  auto slot = next_live(st);
  if (slot == st.workers->size())
    return caf::make_error(ec::unavailable,
                           st.cfg.name
                               + ": no worker is live, its workers are "
                                 "restarting");
  if (st.cfg.load && slot < st.cfg.load->size())
    st.cfg.load->slot(slot).waiting.fetch_add(1);
  auto rp = self->make_response_promise();
  rp.delegate((*st.workers)[slot], std::move(msg));
  return rp;
}

caf::behavior dispatcher(dispatcher_actor* self,
                         std::vector<caf::actor> workers,
                         std::function<caf::actor(size_t)> spawn_worker,
                         worker_pool_settings cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.spawn_worker = std::move(spawn_worker);
  st.workers = std::make_shared<std::vector<caf::actor>>(workers.size());
  // Runs however the pool ends (exit message, giving up, last handle gone):
  // the workers stop with it, and nothing is left to restart them.
  self->attach_functor([ws = st.workers] {
    for (auto& w : *ws)
      if (w)
        caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  for (size_t slot = 0; slot < workers.size(); ++slot)
    take(self, slot, std::move(workers[slot]));
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& ws = *self->state.workers;
    for (size_t slot = 0; slot < ws.size(); ++slot)
      if (ws[slot] && ws[slot].address() == msg.source) {
        ws[slot] = caf::actor{};
        clear_load(self->state, slot);
        if (!self->state.stopping)
          on_worker_down(self, slot, msg.reason);
        else if (live_count(self->state) == 0)
          self->quit(caf::exit_reason::user_shutdown);
        return;
      }
  });
  // A pool may be handed out (the outbox relay): it stops only when told by
  // its own node, and no stray error message ends it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (from_another_node(self)) {
      spdlog::warn("{}: ignored an exit message from another node",
                   self->state.cfg.name);
      return;
    }
    // An orderly stop goes down after its workers, so that what they do
    // while stopping (the relay deletes what it delivered) comes first.
    auto& st = self->state;
    if (msg.reason == caf::exit_reason::user_shutdown && !st.stopping
        && live_count(st) > 0) {
      st.stopping = true;
      for (auto& w : *st.workers)
        if (w)
          self->send_exit(w, caf::exit_reason::user_shutdown);
      return;
    }
    self->quit(msg.reason);
  });
  ignore_stray_errors(self);
  self->set_default_handler(
      [self](caf::scheduled_actor*,
             caf::message_view& msg) -> caf::result<caf::message> {
        return forward(self, msg.move_content_to_message());
      });
  return {
      [self](caf::get_atom, caf::sys_atom) { return health_of(self->state); },
      [self](atom::status) -> caf::result<caf::message> {
        auto& st = self->state;
        if (st.cfg.status)
          return st.cfg.status(health_of(st));
        return forward(self, caf::make_message(atom::status_v));
      },
      [self](caf::spawn_atom, size_t slot) {
        // Only the pool's own timer may fill a slot, and only an empty one.
        auto& ws = *self->state.workers;
        if (self->state.stopping || self->current_sender() != self->ctrl()
            || slot >= ws.size() || ws[slot])
          return;
        take(self, slot, self->state.spawn_worker(slot));
      },
  };
}

} // namespace

caf::actor spawn_dispatcher(caf::actor_system& sys, size_t n,
                            std::function<caf::actor(size_t)> spawn_worker,
                            worker_pool_settings settings) {
  // The first workers come from the caller's thread, before spawn_worker_pool
  // returns: the pool's own initialization runs later, on a scheduler thread.
  std::vector<caf::actor> workers;
  for (size_t i = 0; i < std::max(n, size_t{1}); ++i)
    workers.push_back(spawn_worker(i));
  return sys.spawn(dispatcher, std::move(workers), std::move(spawn_worker),
                   std::move(settings));
}

} // namespace herald::detail
