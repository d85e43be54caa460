// An event handler for tests on a real actor system (threads): records what
// it gets under a mutex and answers ok, fails, or holds answers back until
// the test releases them.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "messages/error.hpp"
#include "messages/event_actors.hpp"

namespace herald::test {

/// What the handler got, and how it answers. Shared between the handler's
/// thread and the test's, so everything is under a mutex (the log of
/// tests/support/recording_handler.hpp is for the deterministic scheduler).
class live_log {
public:
  struct entry {
    event ev;
    std::chrono::steady_clock::time_point at;
  };

  enum class answer { ok, fail, hold };

  std::vector<entry> events() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }

  /// The next `n` deliveries of `id` fail with `code` (by default
  /// ec::unavailable, an outage; ec::internal is a failure of the event).
  void fail_times(const std::string& id, int n,
                  ec code = ec::unavailable) {
    std::lock_guard<std::mutex> guard{mtx_};
    failures_[id] = n;
    codes_[id] = code;
  }

  /// The next `n` deliveries, whatever their id, fail with ec::unavailable:
  /// an outage of everything (fail_times fails one event, and another one
  /// succeeding meanwhile shows the route works).
  void fail_all(int n) {
    std::lock_guard<std::mutex> guard{mtx_};
    all_failures_ = n;
  }

  /// The code the last failure of `id` is answered with.
  ec failure_code(const std::string& id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = codes_.find(id);
    return i != codes_.end() ? i->second : ec::unavailable;
  }

  /// Keep answers back until the handler gets `wake`.
  void hold(bool on) {
    std::lock_guard<std::mutex> guard{mtx_};
    hold_ = on;
  }

  /// Deliveries waiting for their answer now, and at most so far.
  size_t held() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return held_;
  }

  size_t max_held() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return max_held_;
  }

  answer record(const event& ev) {
    std::lock_guard<std::mutex> guard{mtx_};
    seen_.push_back({ev, std::chrono::steady_clock::now()});
    if (all_failures_ > 0) {
      --all_failures_;
      return answer::fail;
    }
    if (auto i = failures_.find(ev.id); i != failures_.end() && i->second > 0) {
      --i->second;
      return answer::fail;
    }
    if (!hold_)
      return answer::ok;
    max_held_ = std::max(max_held_, ++held_);
    return answer::hold;
  }

  void released(size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    held_ -= std::min(n, held_);
  }

private:
  mutable std::mutex mtx_;
  std::vector<entry> seen_;
  std::map<std::string, int> failures_;
  int all_failures_ = 0;
  std::map<std::string, ec> codes_;
  bool hold_ = false;
  size_t held_ = 0;
  size_t max_held_ = 0;
};

/// The handler interface plus `wake`: answers every held delivery ok (or the
/// `n` held longest, or `n` after skipping the `skip` held longest).
using live_handler_actor = event_handler_actor::extend<
    caf::reacts_to<atom::wake>, caf::reacts_to<atom::wake, uint32_t>,
    caf::reacts_to<atom::wake, uint32_t, uint32_t>>;

struct live_handler_state {
  std::vector<caf::typed_response_promise<caf::ok_atom>> held;
};

/// Answers ok to `n` held deliveries after the `skip` held longest.
inline void
release(live_handler_actor::stateful_pointer<live_handler_state> self,
        live_log& log, uint32_t skip, uint32_t n) {
  auto& held = self->state.held;
  auto first = std::min<size_t>(skip, held.size());
  auto last = std::min<size_t>(first + n, held.size());
  std::vector<caf::typed_response_promise<caf::ok_atom>> some{
      held.begin() + first, held.begin() + last};
  held.erase(held.begin() + first, held.begin() + last);
  log.released(some.size());
  for (auto& rp : some)
    rp.deliver(caf::ok_atom_v);
}

inline live_handler_actor::behavior_type
live_handler(live_handler_actor::stateful_pointer<live_handler_state> self,
             std::shared_ptr<live_log> log) {
  return {
      [self, log](atom::handle, event& ev) -> caf::result<caf::ok_atom> {
        switch (log->record(ev)) {
        case live_log::answer::fail:
          return caf::make_error(log->failure_code(ev.id), "refusing " + ev.id);
        case live_log::answer::hold: {
          auto rp = self->make_response_promise<caf::ok_atom>();
          self->state.held.push_back(rp);
          return rp;
        }
        default:
          return caf::ok_atom_v;
        }
      },
      [self, log](atom::wake) {
        auto held = std::move(self->state.held);
        self->state.held.clear();
        log->released(held.size());
        for (auto& rp : held)
          rp.deliver(caf::ok_atom_v);
      },
      [self, log](atom::wake, uint32_t n) { release(self, *log, 0, n); },
      [self, log](atom::wake, uint32_t skip, uint32_t n) {
        release(self, *log, skip, n);
      },
  };
}

} // namespace herald::test
