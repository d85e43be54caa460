// Requests an actor waits for, each with a deadline, checked by one timer
// (a tick the actor sends itself while any is open) instead of a CAF timer
// per request: CAF 0.17's timer thread is woken twice for every request with
// a timeout (set and cancel), which costs more than the request itself on a
// busy path. A deadline fires between `timeout` and `timeout` plus a tick
// (tick_interval) late.
//
// The owner sends its requests with caf::infinite, keeps what a response
// needs under the id add() answers, and looks it up with take() in the
// response handler: nothing there means it expired already (the late answer
// is dropped). On each tick it calls expire() and fails what comes back.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>

namespace herald {

/// A quarter of `timeout`, at least 10 ms.
inline std::chrono::milliseconds
tick_interval(std::chrono::milliseconds timeout) {
  return std::max(timeout / 4, std::chrono::milliseconds{10});
}

template <class T>
class deadlines {
public:
  using time_point = caf::actor_clock::time_point;

  /// Keeps `x` until `due`; answers its id.
  uint64_t add(time_point due, T x) {
    auto id = next_id_++;
    open_.emplace(id, entry{due, std::move(x)});
    return id;
  }

  /// Removes and answers the entry `id`; nullopt if it expired (or was
  /// taken) already.
  std::optional<T> take(uint64_t id) {
    auto i = open_.find(id);
    if (i == open_.end())
      return std::nullopt;
    auto x = std::move(i->second.x);
    open_.erase(i);
    return x;
  }

  /// Removes and answers the entries due at `now`, oldest first.
  std::vector<T> expire(time_point now) {
    std::vector<T> result;
    for (auto i = open_.begin(); i != open_.end();) {
      if (i->second.due > now) {
        ++i;
        continue;
      }
      result.push_back(std::move(i->second.x));
      i = open_.erase(i);
    }
    return result;
  }

  bool empty() const noexcept { return open_.empty(); }

  size_t size() const noexcept { return open_.size(); }

  /// True if the owner has to schedule a tick now: entries are open and no
  /// tick is on its way. Marks one on its way.
  bool tick_needed() {
    if (open_.empty() || tick_scheduled_)
      return false;
    tick_scheduled_ = true;
    return true;
  }

  /// The tick arrived (call before expire()).
  void ticked() noexcept { tick_scheduled_ = false; }

private:
  struct entry {
    time_point due;
    T x;
  };
  std::map<uint64_t, entry> open_;
  uint64_t next_id_ = 1;
  bool tick_scheduled_ = false;
};

} // namespace herald
